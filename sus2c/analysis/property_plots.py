"""Plots of materials properties (``sus2c validate``): EOS, phonon bands and DOS, elastic constants.

Each function takes ``results``, a list of ``(label, Properties)`` from
:func:`sus2c.properties.compute_properties` (the model first, then a
reference), and returns a :class:`matplotlib.figure.Figure` built without
pyplot.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_elastic_convergence", "plot_eos", "plot_phonon_bands", "plot_phonon_dos"]


def _figure(w=6.4, h=4.4):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=120, layout="constrained")


STYLES = [dict(color="tab:red", ls="-", lw=1.4), dict(color="black", ls="--", lw=1.2), dict(color="tab:blue", ls=":", lw=1.2)]


def plot_eos(results):
    """Energy against volume with the fitted EOS, one curve per (label, Properties) in ``results``."""
    fig = _figure()
    ax = fig.add_subplot()
    for (label, p), st in zip(results, STYLES):
        e = p.eos
        v = np.asarray(e.volumes_angstrom3_per_atom)
        vv = np.linspace(v.min(), v.max(), 200)
        ax.plot(vv, e.energy(vv), color=st["color"], ls=st["ls"], lw=st["lw"],
                label=f"{label}: a0 = {e.a0_angstrom:.4f} Å, B = {e.b_gpa:.1f} GPa")
        ax.plot(v, e.energies_ev_per_atom, "o", color=st["color"], ms=4, mfc="none")
    ax.set_xlabel("volume (Å³/atom)")
    ax.set_ylabel("energy (eV/atom)")
    ax.set_title(f"equation of state ({results[0][1].eos.form} fit)")
    ax.legend(fontsize=8)
    return fig


def _pretty(label):
    return {"G": "Γ"}.get(label, label)


def _special_ticks(x, labels):
    """Merge labels that share an x (a break in the path) into 'K|U'."""
    ticks, names = [], []
    for xi, lab in zip(x, labels):
        lab = _pretty(lab)
        if ticks and abs(xi - ticks[-1]) < 1e-9:
            names[-1] = f"{names[-1]}|{lab}"
        else:
            ticks.append(xi)
            names.append(lab)
    return ticks, names


def plot_phonon_bands(results):
    """Phonon band structures along the same path, one style per (label, Properties)."""
    fig = _figure(7.2, 4.6)
    ax = fig.add_subplot()
    for (label, p), st in zip(results, STYLES):
        ph = p.phonons
        x = np.asarray(ph.band_x)
        f = np.asarray(ph.band_frequencies_thz)
        # a break in the path ("K,U") shows up as two q-points at the same x
        cuts = np.nonzero(np.diff(x) <= 1e-12)[0] + 1
        for seg_x, seg_f in zip(np.split(x, cuts), np.split(f, cuts)):
            for b in range(seg_f.shape[1]):
                ax.plot(seg_x, seg_f[:, b], color=st["color"], ls=st["ls"], lw=st["lw"],
                        label=label if (b == 0 and seg_x[0] == x[0]) else None)
    ph = results[0][1].phonons
    ticks, names = _special_ticks(ph.band_special_x, ph.band_labels)
    for t in ticks:
        ax.axvline(t, color="0.7", lw=0.6)
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_xticks(ticks, names)
    ax.set_xlim(ph.band_x[0], ph.band_x[-1])
    ax.set_ylabel("frequency (THz)")
    ax.set_title("phonon band structure")
    ax.legend(fontsize=8)
    return fig


def plot_phonon_dos(results):
    """Phonon densities of states per atom, one curve per (label, Properties)."""
    fig = _figure()
    ax = fig.add_subplot()
    for (label, p), st in zip(results, STYLES):
        ph = p.phonons
        ax.plot(ph.dos_frequencies_thz, np.asarray(ph.dos_states_per_thz) / ph.n_primitive_atoms,
                color=st["color"], ls=st["ls"], lw=st["lw"], label=label)
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel("phonon DOS (states/THz/atom)")
    ax.set_title(f"phonon density of states ({'x'.join(map(str, results[0][1].phonons.mesh))} mesh)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=min(0.0, min(p.phonons.min_frequency_thz for _, p in results)))
    ax.legend(fontsize=8)
    return fig


def plot_elastic_convergence(results):
    """Each elastic constant against strain size, relative to its reported value."""
    fig = _figure()
    ax = fig.add_subplot()
    markers = "osd^v<>p*h"
    for (label, p), st in zip(results, STYLES):
        el = p.elastic
        s = 100 * np.asarray(el.strains)
        for (name, vals), m in zip(((k, v) for k, v in el.named_by_strain_gpa.items() if k.startswith("C")), markers):
            vals = np.asarray(vals)
            final = el.named_gpa[name]
            ax.plot(s, 100 * (vals - final) / abs(final), marker=m, color=st["color"], ls=st["ls"], lw=st["lw"],
                    label=f"{label} {name} = {final:.1f} GPa")
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_xlabel("strain size (%)")
    ax.set_ylabel("deviation from the reported value (%)")
    ax.set_title("elastic constants vs strain size (convergence check)")
    ax.legend(fontsize=7, ncol=2)
    return fig
