"""``sus2c validate``: materials properties of a model next to a reference, written as a report.

For one crystal structure the model (and the reference, if given: ASE's EMT
or another sus2c model) goes through :mod:`sus2c.properties` -- equilibrium
and EOS, elastic constants, phonons, vacancy formation energy -- with the
same settings, the same phonon supercell and the same q-points.  The output
folder gets

- ``report.md``    -- a table model vs reference with differences, the
  elastic matrices, thermal properties, phonon frequency RMSE and timings;
- ``report.json``  -- every number, including band and mesh frequencies;
- ``eos.png``, ``phonon_bands.png``, ``phonon_dos.png``,
  ``elastic_convergence.png`` (drawn by :mod:`sus2c.analysis.property_plots`).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from .files import save_figure, write_text
from .records import plain
from .properties import (
    ALL_PROPERTIES,
    PropertyError,
    check_elements,
    compute_properties,
    equilibrium,
    frequency_rmse,
    interaction_cutoff,
    load_calculator,
    parse_structure,
    repeat_for_width,
    check_vacancy_reference,
    vacancy_site,
)


def _say(msg=""):
    print(msg, flush=True)


def _rows(props):
    """(key, label, unit, value) for the summary table of one calculator's results."""
    rows = []
    e = props.eos
    if e is not None:
        rows += [
            ("a0", "lattice constant a", "Å", e.a0_angstrom),
        ]
        if not np.isclose(e.c0_angstrom, e.a0_angstrom):
            rows.append(("c0", "lattice constant c", "Å", e.c0_angstrom))
        rows += [
            ("v0", "equilibrium volume", "Å³/atom", e.v0_angstrom3_per_atom),
            ("e0", "energy at V0", "eV/atom", e.e0_ev_per_atom),
            ("b_eos", f"bulk modulus B ({e.form} EOS)", "GPa", e.b_gpa),
            ("bp_eos", "B′ = dB/dP", "", e.bp),
        ]
    el = props.elastic
    if el is not None:
        for k, v in el.named_gpa.items():
            if k.startswith("C"):
                rows.append((k, k, "GPa", v))
        if "zener_anisotropy" in el.named_gpa:
            rows.append(("zener", "Zener anisotropy 2C44/(C11−C12)", "", el.named_gpa["zener_anisotropy"]))
        m = el.moduli
        rows += [
            ("b_hill", "bulk modulus (Hill, from C_ij)", "GPa", m["bulk_hill_gpa"]),
            ("g_voigt", "shear modulus (Voigt)", "GPa", m["shear_voigt_gpa"]),
            ("g_reuss", "shear modulus (Reuss)", "GPa", m["shear_reuss_gpa"]),
            ("g_hill", "shear modulus (Hill)", "GPa", m["shear_hill_gpa"]),
            ("young_hill", "Young's modulus (Hill)", "GPa", m["young_hill_gpa"]),
            ("poisson_hill", "Poisson ratio (Hill)", "", m["poisson_hill"]),
        ]
    ph = props.phonons
    if ph is not None:
        rows += [
            ("nu_max", "highest phonon frequency", "THz", ph.max_frequency_thz),
            ("nu_min", "lowest phonon frequency (<0: imaginary)", "THz", ph.min_frequency_thz),
            ("zpe", "zero-point energy", "meV/atom", 1000 * ph.zero_point_energy_ev_per_atom),
        ]
        for i, T in enumerate(ph.temperatures_k):
            rows += [
                (f"F_{T:g}K", f"vibrational free energy F at {T:g} K", "meV/atom", 1000 * ph.free_energy_ev_per_atom[i]),
                (f"S_{T:g}K", f"vibrational entropy S at {T:g} K", "k_B/atom", ph.entropy_kb_per_atom[i]),
                (f"Cv_{T:g}K", f"heat capacity C_v at {T:g} K", "k_B/atom", ph.heat_capacity_kb_per_atom[i]),
            ]
    v = props.vacancy
    if v is not None:
        site = f"{v.removed_element} site" if v.removed_element else "vacancy"
        rows += [
            ("vac", f"vacancy formation energy, {site} (relaxed)", "eV", v.formation_energy_ev),
            ("vac_unrelaxed", f"vacancy formation energy, {site} (unrelaxed)", "eV", v.formation_energy_unrelaxed_ev),
        ]
    return rows


# quantities whose relative difference means nothing: energies with an arbitrary zero (E0),
# frequencies near 0, and the vibrational free energy F(T), which changes sign with T
# (ZPE > 0 at low T, -TS < 0 at high T), so that a percentage of it is huge near the crossing
# and its sign says nothing.  They are compared by their difference alone.
NO_RELATIVE = ("e0", "nu_min", "F_")


def relative_difference(key, value, reference):
    """(value - reference) / |reference|, or None where a relative difference means nothing
    (keys starting with an entry of NO_RELATIVE, or a reference of zero).  Its sign is that of
    the difference: positive when the value is larger."""
    if key.startswith(NO_RELATIVE) or reference is None or value is None:
        return None
    if not abs(reference) > 1e-12:
        return None
    return float((value - reference) / abs(reference))


def compare(model_props, ref_props):
    """{key: {label, unit, model, reference, difference, relative_difference}} over shared quantities."""
    ref = {k: (label, unit, val) for k, label, unit, val in _rows(ref_props)}
    out = {}
    for k, label, unit, val in _rows(model_props):
        if k not in ref:
            continue
        r = ref[k][2]
        d = val - r
        out[k] = {
            "label": label,
            "unit": unit,
            "model": float(val),
            "reference": float(r),
            "difference": float(d),
            "relative_difference": relative_difference(k, val, r),
        }
    return out


def warnings_for(label, props):
    """Plain-language warnings about one calculator's results (instabilities, poor convergence)."""
    out = []
    el = props.elastic
    if el is not None:
        if not el.moduli["mechanically_stable"]:
            out.append(f"{label}: mechanically unstable (the elastic matrix is not positive definite)")
        if not el.converged:
            out.append(f"{label}: elastic constants change by {el.spread_gpa:.2f} GPa across strain sizes (not converged)")
    ph = props.phonons
    if ph is not None and ph.min_frequency_thz < -0.05:
        out.append(f"{label}: imaginary phonon modes (lowest {ph.min_frequency_thz:.3f} THz): dynamically unstable")
    v = props.vacancy
    if v is not None:
        if not v.relax_converged:
            out.append(f"{label}: the vacancy relaxation did not converge in {v.relax_steps} steps")
        if abs(v.relaxation_energy_ev) > 0.5:
            out.append(
                f"{label}: vacancy relaxation energy {v.relaxation_energy_ev:.2f} eV: the lattice around the "
                "vacancy probably transformed; the formation energy is not meaningful"
            )
    return out


# --------------------------------------------------------------------------- report


def _fmt(v, unit=""):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    a = abs(v)
    if unit in ("Å", "Å³/atom", "THz"):
        return f"{round(v, 4) + 0.0:.4f}"
    if unit == "eV/atom":
        return f"{v:.5f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.3f}"
    return f"{v:.4g}"


def _matrix_md(C):
    lines = ["| | " + " | ".join(str(j + 1) for j in range(6)) + " |", "|---" * 7 + "|"]
    for i in range(6):
        lines.append(f"| **{i + 1}** | " + " | ".join(f"{C[i][j] if abs(C[i][j]) >= 0.05 else 0.0:.1f}" for j in range(6)) + " |")
    return lines


def write_markdown(path, report, results, files):
    labels = [lab for lab, _ in results]
    has_ref = len(results) > 1
    L = [f"# sus2c validation: {report['structure']}", ""]
    L.append(f"- model: `{report['model']}`")
    if has_ref:
        L.append(f"- reference: `{report['reference']}`")
    s = report["settings"]
    L.append(
        f"- settings: {s['eos_form']} EOS over ±{100 * s['eos_volume_range']:.0f} % volume; strains "
        f"{', '.join(f'{100 * x:g} %' for x in s['strains'])} (± each, ions relaxed to {s['fmax_ev_per_angstrom']:g} eV/Å); "
        f"phonon supercell {'x'.join(map(str, s['supercell']))} (width ≥ 2 × cutoff {s['cutoff_angstrom']:.2f} Å), "
        f"{'x'.join(map(str, s['mesh']))} mesh"
    )
    L.append(f"- sus2c {report['sus2c_version']}, {report['wall_s']:.1f} s")
    L.append("")
    if report["warnings"]:
        L += ["**Warnings**", ""] + [f"- {w}" for w in report["warnings"]] + [""]
    L.append("## Summary")
    L.append("")
    base = {k: (label, unit, val) for k, label, unit, val in _rows(results[0][1])}
    other = {k: val for k, _, _, val in _rows(results[1][1])} if has_ref else {}
    if has_ref:
        L.append(f"| quantity | unit | {labels[0]} | {labels[1]} | difference | rel. diff. |")
        L.append("|---|---|---:|---:|---:|---:|")
    else:
        L.append(f"| quantity | unit | {labels[0]} |")
        L.append("|---|---|---:|")
    for k, (label, unit, val) in base.items():
        if has_ref and k in other:
            r = other[k]
            d = val - r
            rel = relative_difference(k, val, r)
            rel = "—" if rel is None else f"{100 * rel:+.2f} %"
            L.append(f"| {label} | {unit} | {_fmt(val, unit)} | {_fmt(r, unit)} | {d:+.4g} | {rel} |")
        else:
            L.append(f"| {label} | {unit} | {_fmt(val, unit)} |")
    if report.get("phonon_frequency_rmse"):
        r = report["phonon_frequency_rmse"]
        L += [
            "",
            f"Phonon frequencies vs {labels[1]} (same q-points, bands in ascending order): "
            f"RMSE {r['band_rmse_thz']:.4f} THz along the band path (max |Δ| {r['band_max_abs_thz']:.4f} THz), "
            f"{r['mesh_rmse_thz']:.4f} THz on the mesh (max |Δ| {r['mesh_max_abs_thz']:.4f} THz).",
        ]
    for name in files:
        if name.endswith(".png"):
            L += ["", f"![{name[:-4]}]({name})"]
    for label, p in results:
        if p.elastic is not None:
            el = p.elastic
            L += ["", f"## Elastic constants: {label} (GPa, Voigt order xx yy zz yz xz xy)", ""]
            L += _matrix_md(el.c_gpa)
            L += [
                "",
                f"Crystal class from the cell: {el.crystal}. Largest spread of any C_ij across strain sizes: "
                f"{el.spread_gpa:.3f} GPa ({'converged' if el.converged else 'NOT converged'}: limit max(1 GPa, 2 % of max |C_ij|)); "
                f"largest |C_ij − C_ji| {el.asymmetry_gpa:.3f} GPa; residual pressure of the equilibrium cell "
                f"{el.residual_pressure_gpa:.4f} GPa; mechanically stable: {'yes' if el.moduli['mechanically_stable'] else 'NO'}.",
            ]
        if p.vacancy is not None:
            v = p.vacancy
            L += [
                "",
                f"Vacancy ({label}): removed {v.site()} of the unit cell; "
                f"{v.n_atoms}-atom supercell {'x'.join(map(str, v.supercell))}, constant volume; "
                f"E_f = E(N−1) − E(N) + μ_{v.removed_element} with μ_{v.removed_element} = "
                f"{v.chemical_potential_ev:.5f} eV ({v.chemical_potential_source}); "
                f"E_f = {v.formation_energy_ev:.4f} eV relaxed ({v.relax_steps} BFGS steps"
                f"{'' if v.relax_converged else ', NOT converged'}), {v.formation_energy_unrelaxed_ev:.4f} eV unrelaxed.",
            ]
    L += ["", "## Timings (s)", "", "| | " + " | ".join(ALL_PROPERTIES) + " |", "|---" * (len(ALL_PROPERTIES) + 1) + "|"]
    for label, p in results:
        L.append(f"| {label} | " + " | ".join(f"{p.timings_s[k]:.1f}" if k in p.timings_s else "—" for k in ALL_PROPERTIES) + " |")
    L += ["", "All numbers, with band and mesh frequencies: `report.json`.", ""]
    write_text(path, "\n".join(L), what="report")


def parse_chemical_potentials(items) -> dict:
    """{element: eV (float) or structure spec (str)} from ``["Cu=fcc:Cu:3.61", "Ni=-4.44"]`` (or a dict)."""
    if not items:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            el, sep, value = str(item).partition("=")
            if not sep or not el.strip() or not value.strip():
                raise PropertyError(
                    f"--chemical-potential: expected ELEMENT=EV or ELEMENT=STRUCTURE (e.g. Cu=fcc:Cu:3.61), got {item!r}"
                )
            pairs.append((el.strip(), value.strip()))
    out = {}
    for el, value in pairs:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        out[el] = value
    return out


def _chemical_potential(calc, element, value, form, fmax, volume_range):
    """(mu in eV, where it came from) of ``element`` for one calculator."""
    if not isinstance(value, str):
        return float(value), "given"
    struct = parse_structure(value)
    others = sorted(set(struct.get_chemical_symbols()) - {element})
    if others:
        raise PropertyError(f"chemical potential of {element} from {value!r}: the structure also holds {others}; "
                            f"give an elemental {element} structure")
    check_elements(calc, struct)
    res, _ = equilibrium(calc, struct, form=form, fmax=fmax, volume_range=volume_range)
    return res.e0_ev_per_atom, f"E0 per atom of {value}, relaxed with the same calculator"


def validate(
    model,
    structure,
    reference=None,
    out="sus2c-validate",
    which=None,
    form="vinet",
    strains=(0.0025, 0.005, 0.01),
    mesh=20,
    temperatures=(100.0, 300.0, 500.0, 1000.0),
    volume_range=0.06,
    fmax=1e-4,
    threads=None,
    log=_say,
    vacancy_index=0,
    chemical_potentials=None,
):
    """Compute properties of ``model`` (and ``reference``) for ``structure`` and write a report to ``out``.

    ``model``: a sus2c model file (or 'emt'); ``reference``: None, 'emt' or
    another model file; ``structure``: see :func:`sus2c.properties.parse_structure`.
    ``which``: properties to compute (default: all that apply; a vacancy in
    a compound applies only with the chemical potential of the removed
    element).  ``vacancy_index``: the unit-cell atom the vacancy removes;
    ``chemical_potentials``: {element: eV, or an elemental structure spec
    whose relaxed energy per atom each calculator computes itself} (see
    :func:`parse_chemical_potentials`).
    Returns the report (the content of report.json) as a dict.
    """
    from . import __version__

    t0 = time.perf_counter()
    explicit = which is not None
    which = tuple(which) if explicit else ALL_PROPERTIES
    unknown = set(which) - set(ALL_PROPERTIES)
    if unknown:
        raise PropertyError(f"unknown properties {sorted(unknown)}; choose from {', '.join(ALL_PROPERTIES)}")
    chemical_potentials = parse_chemical_potentials(chemical_potentials)
    atoms = parse_structure(structure)
    if not atoms.pbc.all():
        raise PropertyError(f"structure {structure!r} is not periodic in all three directions")
    notes = []
    if "vacancy" in which:
        _, removed = vacancy_site(atoms, vacancy_index)
        if removed not in chemical_potentials:
            try:
                check_vacancy_reference(atoms, vacancy_index)
            except PropertyError as exc:
                if explicit:  # asked for: refuse before computing anything
                    raise PropertyError(f"{exc}, or leave the vacancy out (--properties eos,elastic,phonons)") from None
                which = tuple(w for w in which if w != "vacancy")
                notes.append(f"vacancy not computed: {exc}")
    mesh = tuple(int(m) for m in np.broadcast_to(mesh, (3,)))
    entries = [load_calculator(model, threads)]
    if reference is not None:
        calc, label = load_calculator(reference, threads)
        if label == entries[0][1]:
            label = f"{label} (reference)"
        entries.append((calc, label))
    for calc, _ in entries:
        check_elements(calc, atoms)
    os.makedirs(out, exist_ok=True)
    log(f"sus2c validate: {structure} ({len(atoms)} atoms/cell) with {' vs '.join(lab for _, lab in entries)}")

    # equilibrium first: the phonon/vacancy supercell must suit every calculator
    eqs = []
    for calc, label in entries:
        t = time.perf_counter()
        res, eq = equilibrium(calc, atoms, form=form, fmax=fmax, volume_range=volume_range)
        eqs.append((res, eq, time.perf_counter() - t))
    cutoff = max(interaction_cutoff(calc, atoms) for calc, _ in entries)
    supercell = tuple(int(v) for v in np.max([repeat_for_width(eq, 2 * cutoff) for _, eq, _ in eqs], axis=0))
    log(f"  interaction cutoff {cutoff:.3f} Å -> supercell {'x'.join(map(str, supercell))}")

    mus = [(None, "")] * len(entries)
    if "vacancy" in which:
        _, removed = vacancy_site(atoms, vacancy_index)
        if removed in chemical_potentials:
            mus = [_chemical_potential(calc, removed, chemical_potentials[removed], form, fmax, volume_range)
                   for calc, _ in entries]
            for (_, label), (mu, src) in zip(entries, mus):
                log(f"  [{label}] chemical potential of {removed}: {mu:.5f} eV ({src})")

    # the reference goes first so the model's phonons use its q-points
    order = list(range(len(entries)))[::-1]
    props = [None] * len(entries)
    for i in order:
        calc, label = entries[i]
        band_from = props[1].phonons if (i == 0 and len(entries) > 1 and props[1].phonons is not None) else None
        p = compute_properties(
            calc,
            atoms,
            name=label,
            which=which,
            form=form,
            strains=strains,
            supercell=supercell,
            cutoff=cutoff,
            band_from=band_from,
            mesh=mesh,
            temperatures=temperatures,
            fmax=fmax,
            eos=eqs[i][:2],
            log=log,
            vacancy_index=vacancy_index,
            chemical_potential=mus[i][0],
            chemical_potential_source=mus[i][1],
        )
        p.timings_s["eos"] = eqs[i][2]
        props[i] = p
    results = [(label, p) for (_, label), p in zip(entries, props)]

    report = {
        "sus2c_version": __version__,
        "structure": str(structure),
        "model": str(model),
        "reference": None if reference is None else str(reference),
        "labels": [lab for lab, _ in results],
        "settings": {
            "properties": list(which),
            "eos_form": form,
            "eos_volume_range": volume_range,
            "strains": list(strains),
            "fmax_ev_per_angstrom": fmax,
            "cutoff_angstrom": cutoff,
            "supercell": list(supercell),
            "mesh": list(mesh),
            "temperatures_k": list(temperatures),
            "vacancy_index": int(vacancy_index),
            "chemical_potentials": chemical_potentials,
        },
        "results": {lab: p.to_dict() for lab, p in results},
        "summary": {lab: {k: {"label": l, "unit": u, "value": v} for k, l, u, v in _rows(p)} for lab, p in results},
    }
    report["warnings"] = notes + [w for lab, p in results for w in warnings_for(lab, p)]
    if len(results) > 1:
        report["comparison"] = compare(props[0], props[1])
        if props[0].phonons is not None and props[1].phonons is not None:
            report["phonon_frequency_rmse"] = frequency_rmse(props[0].phonons, props[1].phonons)

    from .analysis import plot_eos, plot_phonon_bands, plot_phonon_dos, plot_elastic_convergence

    files = []
    plots = [("eos.png", plot_eos, "eos")]
    plots += [("phonon_bands.png", plot_phonon_bands, "phonons"), ("phonon_dos.png", plot_phonon_dos, "phonons")]
    plots += [("elastic_convergence.png", plot_elastic_convergence, "elastic")]
    for name, fn, need in plots:
        if need == "eos" or need in which:
            save_figure(fn(results), os.path.join(out, name))
            files.append(name)
    report["wall_s"] = time.perf_counter() - t0
    report["files"] = ["report.md", "report.json"] + files
    write_text(os.path.join(out, "report.json"), json.dumps(plain(report), indent=1) + "\n", what="report")
    write_markdown(os.path.join(out, "report.md"), report, results, files)
    log(_summary_text(report))
    for w in report["warnings"]:
        log(f"  warning: {w}")
    log(f"wrote {', '.join(os.path.join(out, f) for f in report['files'])} ({report['wall_s']:.1f} s)")
    return plain(report)


def _summary_text(report):
    labels = report["labels"]
    lines = []
    if "comparison" in report:
        lines.append(f"  {'quantity':50s} {labels[0][:14]:>14s} {labels[1][:14]:>14s} {'difference':>10s}")
        for k, c in report["comparison"].items():
            if k.startswith(("F_", "S_", "Cv_")) and not k.endswith("_300K"):
                continue
            # relative where it means something, else the plain difference in the row's unit
            rel = (f"{100 * c['relative_difference']:+.2f} %" if c["relative_difference"] is not None
                   else f"{c['difference']:+.4g}")
            name = f"{c['label']} ({c['unit']})" if c["unit"] else c["label"]
            lines.append(f"  {name[:50]:50s} {_fmt(c['model'], c['unit']):>14s} {_fmt(c['reference'], c['unit']):>14s} {rel:>10s}")
        r = report.get("phonon_frequency_rmse")
        if r:
            lines.append(f"  phonon frequency RMSE: {r['band_rmse_thz']:.4f} THz (band path), {r['mesh_rmse_thz']:.4f} THz (mesh)")
    else:
        lab = labels[0]
        for k, c in report["summary"][lab].items():
            if k.startswith(("F_", "S_", "Cv_")) and not k.endswith("_300K"):
                continue
            name = f"{c['label']} ({c['unit']})" if c["unit"] else c["label"]
            lines.append(f"  {name[:50]:50s} {_fmt(c['value'], c['unit']):>14s}")
    return "\n".join(lines)
