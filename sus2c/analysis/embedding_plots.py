"""Plots of a model's many-body embedding: densities f_k, embedding functions F_k, and,
for one element, F against the one Rose's universal binding curve implies.

Artists carry a ``gid``: ``"f:K"`` / ``"F:K"`` (channel K's functions,
universal), ``"F:EL"`` / ``"f:EL<-EL2"`` (Finnis-Sinclair), ``"rho-range"``
(the training range of rho, shaded), ``"F-model"`` and ``"F-rose"`` (the
Foiles-Baskes-Daw comparison).
"""
from __future__ import annotations

import numpy as np

__all__ = ["embedding_from_rose", "plot_embedding", "plot_embedding_rose"]


def _figure(ncols, width=4.6, height=3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _shade(ax, ranges):
    """Shade the training range of rho (the union over elements)."""
    vals = [v for v in (ranges or {}).values() if v is not None]
    if vals:
        lo, hi = min(v[0] for v in vals), max(v[1] for v in vals)
        ax.axvspan(lo, hi, color="tab:green", alpha=0.12, lw=0, label="training range", gid="rho-range")


def plot_embedding(model):
    """One row per channel: the density f_k (against x for universal channels, r for
    Finnis-Sinclair ones) and the embedding function F_k(rho), with the range of rho
    the training data covered shaded."""
    from ..model import load

    if not hasattr(model, "describe"):
        model = load(model)
    terms = [t for t in model.terms if t.embedding_channels(model)]
    if not terms:
        raise ValueError("the model has no embedding term")
    rows = []
    for t in terms:
        if t.type == "embedding_universal":
            for k, c in enumerate(t.channels):
                rows.append(("universal", k, c))
        else:
            rows.append(("specific", None, t))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.2, 3.4 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 2, squeeze=False)
    for (kind, k, c), (ax_f, ax_F) in zip(rows, axes):
        if kind == "universal":
            f, F = c["f"], c["F"]
            x = np.linspace(f.lo, f.hi, 400)
            ax_f.plot(x, _density(f, x), color="k", lw=1.5, gid=f"f:{k}")
            ax_f.set_xlabel("reduced distance x")
            ax_f.set_title(f"density f_{k}(x)")
            rho = np.linspace(0.0, F.hi * 1.1, 400)
            for e, eps in c["epsilon"].items():
                ax_F.plot(rho, eps * _embed(F, rho), lw=0.8, alpha=0.6)
            ax_F.plot(rho, _embed(F, rho), color="k", lw=1.8, label=f"F_{k}(rho)", gid=f"F:{k}")
            _shade(ax_F, c.get("rho_range"))
            ax_F.set_title(f"embedding F_{k}(rho) (thin: eps_a F_{k})")
        else:
            for (a, b), s in c.density.items():
                r = np.linspace(s.lo, s.hi, 400)
                ax_f.plot(r, _density(s, r), lw=1.3, label=f"{a}<-{b}", gid=f"f:{a}<-{b}")
            ax_f.set_xlabel("r (Å)")
            ax_f.set_title("densities f_ab(r)")
            ax_f.legend(fontsize="small", frameon=False)
            for a, F in c.embed.items():
                rho = np.linspace(0.0, F.hi * 1.1, 400)
                ax_F.plot(rho, _embed(F, rho), lw=1.5, label=f"F_{a}", gid=f"F:{a}")
            _shade(ax_F, c.rho_range)
            ax_F.set_title("embedding functions F_a(rho)")
        ax_F.axhline(0.0, color="0.6", lw=0.6)
        ax_F.set_xlabel("rho")
        ax_F.set_ylabel("energy (eV)")
        ax_F.legend(fontsize="small", frameon=False)
    return fig


def _density(s, r):
    from ..terms.embedding import DensityPart

    return DensityPart(s)(r)


def _embed(F, rho):
    from ..terms.embedding import EmbedPart

    return EmbedPart(F)(rho)


def embedding_from_rose(model, lattice=None, n=41, span=(0.85, 1.25)):
    """Foiles-Baskes-Daw for a single-element model: along the uniform expansion of
    its reference crystal, F_Rose(rho(a)) = E_Rose(a) - (the model's energy without
    its embedding), with Rose's universal binding curve fitted to the model's own
    cohesive energy, lattice constant and bulk modulus.  Returns a dict with
    ``rho``, ``F_model`` (the model's embedding there), ``F_rose``, ``a``,
    ``lattice`` and the Rose parameters.
    """
    from ase.build import bulk

    from ..calculator import Calculator
    from ..model import Model

    if len(model.elements) != 1:
        raise ValueError("the Rose construction is for single-element models")
    el = model.elements[0]
    emb_terms = [t for t in model.terms if t.embedding_channels(model)]
    if not emb_terms:
        raise ValueError("the model has no embedding term")
    rest = Model(model.elements, terms=[t for t in model.terms if t not in emb_terms], scaling=model.scaling)
    full = Calculator(model, threads=1)
    no_emb = Calculator(rest, threads=1)
    nn = {"fcc": np.sqrt(0.5), "bcc": np.sqrt(0.75), "sc": 1.0}

    def crystal(kind, a):
        at = bulk(el, kind, a=a, cubic=True)
        return at

    def energy(calc, kind, a):
        at = crystal(kind, a)
        at.calc = calc
        return at.get_potential_energy() / len(at)

    if lattice is None:  # the model's own ground state among the simple lattices
        best = None
        for kind, f in nn.items():
            grid = np.linspace(2.0, 3.6, 33) / f
            e = [energy(full, kind, a) for a in grid]
            k = int(np.argmin(e))
            if best is None or e[k] < best[1]:
                best = (kind, e[k], grid[k])
        lattice = best[0]
    grid = np.linspace(2.0, 3.6, 161) / nn[lattice]
    e = np.array([energy(full, lattice, a) for a in grid])
    k = int(np.clip(np.argmin(e), 2, len(e) - 3))
    p = np.polyfit(grid[k - 2:k + 3], e[k - 2:k + 3], 2)
    a0 = -p[1] / (2 * p[0])
    e0 = np.polyval(p, a0)
    vol = lambda a: a**3 / len(crystal(lattice, a))  # noqa: E731
    # B = V d2E/dV2 with V = a^3/n: d2E/dV2 = E''(a) / (dV/da)^2 at the minimum
    dvda = 3 * a0**2 / len(crystal(lattice, a0))
    bulk_modulus = vol(a0) * 2 * p[0] / dvda**2
    e_coh = -(e0 - model.one_body[el])
    scale = np.sqrt(e_coh / (9 * bulk_modulus * vol(a0)))  # Rose's length in units of r_wse
    r_wse = lambda a: (3 * vol(a) / (4 * np.pi)) ** (1 / 3)  # noqa: E731
    a_grid = np.linspace(span[0], span[1], n) * a0
    rho, f_model, f_rose = [], [], []
    for a in a_grid:
        astar = (r_wse(a) / r_wse(a0) - 1.0) / scale
        e_rose = -e_coh * (1 + astar + 0.05 * astar**3) * np.exp(-astar) + model.one_body[el]
        rest_e = energy(no_emb, lattice, a)
        full_e = energy(full, lattice, a)
        f_model.append(full_e - rest_e)
        f_rose.append(e_rose - rest_e)
        rho.append(_crystal_density(model, emb_terms[0], lattice, a))
    return {"lattice": lattice, "a": a_grid, "rho": np.array(rho), "F_model": np.array(f_model),
            "F_rose": np.array(f_rose), "a0": float(a0), "cohesive_energy": float(e_coh),
            "bulk_modulus_ev_a3": float(bulk_modulus)}


def _crystal_density(model, term, lattice, a):
    """The (first channel's) density of an atom of the perfect crystal."""
    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    ch = term.embedding_channels(model)[0]
    el = model.elements[0]
    at = bulk(el, lattice, a=a, cubic=True)
    part = ch.density[(el, el)]
    i, d = neighbor_list("id", at, part.spline.hi)
    return float(np.sum(part(d[i == 0])))


def plot_embedding_rose(model, lattice=None):
    """The model's embedding energy along its reference crystal's expansion next to the
    one Rose's universal binding curve implies (Foiles, Baskes, Daw 1986)."""
    d = embedding_from_rose(model, lattice)
    fig, (ax,) = _figure(1, 5.2, 3.9)
    ax.plot(d["rho"], d["F_model"], color="k", lw=1.6, label="model: embedding energy", gid="F-model")
    ax.plot(d["rho"], d["F_rose"], color="tab:red", lw=1.2, ls="--",
            label="Rose: E_Rose(a) - rest of the model", gid="F-rose")
    ax.set_xlabel("rho of the perfect crystal")
    ax.set_ylabel("energy per atom (eV)")
    ax.set_title(f"embedding vs Rose, {d['lattice']} {model.elements[0]} (a = {d['a'][0]:.2f}-{d['a'][-1]:.2f} Å)")
    ax.legend(fontsize="small", frameon=False)
    fig.rose_construction = d
    return fig
