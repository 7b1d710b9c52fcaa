"""Plots of a sus2c model and of its errors on labelled data.

Every ``plot_*`` function draws on an optional :class:`matplotlib.axes.Axes`
and returns the (root) :class:`matplotlib.figure.Figure`; without an Axes it
makes a new :class:`~matplotlib.figure.Figure` directly, so nothing here
touches pyplot's global state or the user's backend (``fig.savefig`` picks
Agg, PDF or SVG from the file name).

Artists carry a ``gid`` naming what they show, so a figure can be checked or
restyled without relying on drawing order:

========================  ===============================================
``"phi"``                 2-body curve phi_ab(r) (total of all parts)
``"part:specific"``       its specific part (drawn when there are two)
``"part:universal"``      its universal part w_a w_b u(x_ab(r))
``"knots:<part>"``        knot markers of a part, placed on phi
``"training-range"``      shaded range of distances covered by data
``"pair:A-B"``            a pair's curve in :func:`plot_pairs` and
                          :func:`plot_collapse`
``"u"``                   the universal function u(x)
``"knots:u"``             knots of u
``"rose"``                Rose's binding curve fitted to u
``"V"``                   3-body heat map (an AxesImage)
``"group:NAME"``          a group's points / histogram in error plots
``"outliers"``            the note on errors outside a histogram's range
``"identity"``            the y = x line of a parity plot
``"zero"``                the y = 0 line
``"range:A-B"``           in :func:`plot_coverage`: the x range of u(x)
                          a pair's distances cover (a line from x_lo to x_hi)
``"covered"``             in :func:`plot_coverage`: shaded x covered by
                          some pair (one span per pair)
========================  ===============================================

Plots of errors say which data they show (``data_label``: e.g. ``"test"``
or a file name), and :func:`plot_all` draws each data set separately.
"""
from __future__ import annotations

import math
import os

import numpy as np

__all__ = [
    "QUANTITIES",
    "coverage_ranges",
    "histogram_range",
    "distance_ranges",
    "fit_rose",
    "parity_data",
    "plot_all",
    "plot_collapse",
    "plot_coverage",
    "plot_error_histogram",
    "plot_pair",
    "plot_pairs",
    "plot_parity",
    "plot_triplet",
    "plot_triplet_slice",
    "plot_universal",
    "predict",
    "rose",
    "training_range",
    "triplet_slice",
]

# quantity -> (title, axis unit, error scale, error unit)
QUANTITIES = {
    "energy": ("Energy", "eV/atom", 1000.0, "meV/atom"),
    "forces": ("Forces", "eV/Å", 1.0, "eV/Å"),
    "stress": ("Stress", "GPa", 1.0, "GPa"),
}
FORMATS = ("png", "pdf", "svg")


# --------------------------------------------------------------------------- helpers


def _model(model):
    if isinstance(model, (str, os.PathLike)):
        from ..model import load

        return load(model)
    return model


def _axes(ax, figsize=(5.0, 3.8)):
    """(figure, axes): the given axes and its root figure, or a fresh Figure."""
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    try:
        fig = ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10
        fig = ax.figure
    return fig, ax


def _pair_span(model, a, b):
    """(first knot, cutoff) of phi_ab over all its parts (a ZBL core from where it
    switches on), or None without a 2-body term."""
    parts = [p for _, p in model.labelled_pair_parts(a, b)]
    if not parts:
        return None
    return min(p.lo for p in parts), max(p.hi for p in parts)


def _draw_universal_curve(ax, u, n):
    """The universal 2-body curve u(x) with its knots and the zero line; returns (x, u(x))."""
    x = np.linspace(u.lo, u.hi, int(n))
    y = u(x)
    ax.axhline(0.0, color="0.6", lw=0.6, gid="zero")
    ax.plot(x, y, color="k", lw=1.6, label="u(x)", gid="u")
    kx = _unique_knots(u)
    ax.plot(kx, u(kx), ls="none", marker="o", ms=3.5, mfc="none", color="k", label="knots", gid="knots:u")
    return x, y


def _unique_knots(spline):
    return np.unique(spline.knots)


def _ylim(ax, y, depth_factor=4.0):
    """Y limits that show the well: the repulsive wall is clipped at a few well depths."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    if y.size == 0:
        return
    lo, hi = float(y.min()), float(y.max())
    depth = max(-lo, 0.0)
    if depth > 0:
        top = min(hi, depth_factor * depth) if hi > 0 else 0.0
        top = max(top, 0.5 * depth)
        bottom = -1.15 * depth
    else:
        top, bottom = hi, lo
    pad = 0.05 * max(top - bottom, 1e-12)
    ax.set_ylim(bottom - (pad if depth == 0 else 0.0), top + pad)


def _group_colors(groups):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {g: cmap(k % 10) for k, g in enumerate(groups)}


# --------------------------------------------------------------------------- distance ranges


def distance_ranges(frames, elements, cutoff, threads=1):
    """Shortest and longest distance (below ``cutoff``) per element pair in ``frames``.

    Returns ``{(a, b): (d_min, d_max)}`` with pairs in the order of
    ``elements``; pairs that never occur within the cutoff are left out, and
    atoms of other elements are ignored.
    """
    from ..distances import pair_statistics

    return pair_statistics(frames, elements, cutoff, threads=threads, strict=False).ranges()


def training_range(model, a, b, frames=None, threads=1):
    """(lo, hi, source) of the distances phi_ab was fitted on, or None if unknown.

    With ``frames``: the shortest and longest a-b distance in them below the
    pair's cutoff (``source = "data"``).  Otherwise from the fit metadata
    (``model.metadata["fit"]["r_min"]["a-b"]``, a little below the shortest
    training distance) up to the pair's cutoff (``source = "fit"``).
    """
    model = _model(model)
    span = _pair_span(model, a, b)
    if span is None:
        return None
    if frames is not None:
        ranges = distance_ranges(frames, model.elements, span[1], threads)
        key = model.pair_key(a, b)
        if key not in ranges:
            return None
        return ranges[key][0], ranges[key][1], "data"
    table = ((model.metadata or {}).get("fit") or {}).get("r_min") or {}
    for k in (f"{a}-{b}", f"{b}-{a}"):
        if k in table and table[k] is not None:
            return float(table[k]), span[1], "fit"
    return None


# --------------------------------------------------------------------------- 2-body curves


def plot_pair(
    model,
    a,
    b,
    ax=None,
    frames=None,
    r_range=None,
    n=600,
    parts=True,
    knots=True,
    covered=None,
    threads=1,
):
    """phi_ab(r) with the knots of each part and the range covered by data.

    Parameters
    ----------
    model : Model or model file
    a, b : element symbols
    ax : Axes to draw on (default: a new Figure)
    frames : structures whose a-b distances give the shaded range (default:
        the fit metadata's r_min up to the cutoff, if the model has it)
    r_range : (r_start, r_end) of the curve (default: a little below the
        first knot to a little past the cutoff)
    n : points on the curve
    parts : also draw the specific and universal parts when both exist
    knots : mark each part's knots on the curve
    covered : (lo, hi) to shade instead of computing it (False: no shading)
    """
    model = _model(model)
    fig, ax = _axes(ax)
    span = _pair_span(model, a, b)
    if span is None:
        raise ValueError(f"the model has no 2-body term for {a}-{b}")
    lo, hi = span
    if r_range is None:
        r_range = (max(0.0, lo - 0.04 * (hi - lo)), hi + 0.04 * (hi - lo))
    r = np.linspace(r_range[0], r_range[1], int(n))
    phi = model.pair_energy(a, b, r)
    ax.axhline(0.0, color="0.6", lw=0.6, gid="zero")
    ax.plot(r, phi, color="k", lw=1.6, label=r"$\varphi_{%s%s}(r)$" % (a, b), gid="phi")
    labelled = model.labelled_pair_parts(a, b)
    styles = {"specific": ("tab:blue", "o"), "universal": ("tab:red", "s"), "ZBL": ("tab:purple", "^")}
    if parts and len(labelled) > 1:
        for label, p in labelled:
            ax.plot(r, p(r), color=styles[label][0], lw=1.0, ls="--", label=label, gid=f"part:{label}")
    if knots:
        for label, p in labelled:
            k = _unique_knots(p)
            k = k[(k >= r_range[0]) & (k <= r_range[1])]
            ax.plot(
                k,
                model.pair_energy(a, b, k),
                ls="none",
                marker=styles[label][1],
                ms=3.5,
                mfc="none",
                color=styles[label][0],
                label=f"knots ({label})",
                gid=f"knots:{label}",
            )
    if covered is None:
        rng = training_range(model, a, b, frames=frames, threads=threads)
        if rng is not None:
            covered = rng
    if covered:
        c_lo, c_hi = covered[0], covered[1]
        what = "distances in data" if len(covered) < 3 or covered[2] == "data" else "fitted range"
        ax.axvspan(c_lo, c_hi, color="tab:green", alpha=0.12, lw=0, label=what, gid="training-range")
    ax.set_xlim(r_range)
    inside = r >= lo
    _ylim(ax, phi[inside] if inside.any() else phi)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("energy (eV)")
    ax.set_title(f"2-body {a}-{b}")
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_pairs(model, ax=None, n=600):
    """Every pair's phi_ab(r) on one Axes."""
    model = _model(model)
    fig, ax = _axes(ax)
    ax.axhline(0.0, color="0.6", lw=0.6, gid="zero")
    ys = []
    for a, b in model.pairs():
        span = _pair_span(model, a, b)
        if span is None:
            continue
        lo, hi = span
        r = np.linspace(lo, hi, int(n))
        phi = model.pair_energy(a, b, r)
        ax.plot(r, phi, lw=1.4, label=f"{a}-{b}", gid=f"pair:{a}-{b}")
        ys.append(phi)
    if ys:
        _ylim(ax, np.concatenate(ys))
    ax.set_xlabel("r (Å)")
    ax.set_ylabel(r"$\varphi_{ab}(r)$ (eV)")
    ax.set_title("2-body terms")
    ax.legend(fontsize="small", frameon=False)
    return fig


# --------------------------------------------------------------------------- 3-body slices


def _triplet_span(model, a, b, c):
    parts = model.triplet_parts(a, b, c)
    if not parts:
        return None
    lo = tuple(min(p.lo[k] for p in parts) for k in range(3))
    hi = tuple(max(p.hi[k] for p in parts) for k in range(3))
    return lo, hi


def triplet_slice(model, a, b, c, rjk=None, theta=None, n=101, r_range=None):
    """V_a;bc on a grid of (r_ij, r_ik) at fixed r_jk or at fixed angle theta_jik.

    Give exactly one of ``rjk`` (Å) and ``theta`` (degrees; then
    r_jk = sqrt(r_ij² + r_ik² − 2 r_ij r_ik cos θ)).  The grid runs over
    each leg's knot range (``r_range = ((ij_lo, ij_hi), (ik_lo, ik_hi))``
    to change it) with ``n`` points per leg.

    Returns a dict with ``rij`` and ``rik`` (1-D grid axes), ``RIJ``,
    ``RIK``, ``RJK`` (2-D, indexed [ik, ij] as drawn: rows are r_ik),
    ``V`` (2-D, NaN where the three distances cannot form a triangle) and
    ``valid``.
    """
    model = _model(model)
    if (rjk is None) == (theta is None):
        raise ValueError("give exactly one of rjk (fixed r_jk) and theta (fixed angle)")
    span = _triplet_span(model, a, b, c)
    if span is None:
        raise ValueError(f"the model has no 3-body term for {a};{b}{c}")
    if r_range is None:
        r_range = ((span[0][0], span[1][0]), (span[0][1], span[1][1]))
    rij = np.linspace(r_range[0][0], r_range[0][1], int(n))
    rik = np.linspace(r_range[1][0], r_range[1][1], int(n))
    RIJ, RIK = np.meshgrid(rij, rik)  # rows: r_ik, columns: r_ij
    if theta is not None:
        cos = math.cos(math.radians(float(theta)))
        RJK = np.sqrt(np.maximum(RIJ**2 + RIK**2 - 2.0 * RIJ * RIK * cos, 0.0))
        valid = np.ones(RIJ.shape, dtype=bool)
    else:
        RJK = np.full(RIJ.shape, float(rjk))
        valid = (np.abs(RIJ - RIK) <= RJK) & (RJK <= RIJ + RIK)
    V = model.triplet_energy(a, b, c, RIJ, RIK, RJK)
    V = np.where(valid, V, np.nan)
    return {"rij": rij, "rik": rik, "RIJ": RIJ, "RIK": RIK, "RJK": RJK, "V": V, "valid": valid,
            "rjk": rjk, "theta": theta}


def plot_triplet_slice(model, a, b, c, rjk=None, theta=None, ax=None, n=101, r_range=None, cmap="RdBu_r",
                       colorbar=True, vmax=None):
    """Heat map of V_a;bc over (r_ij, r_ik) at fixed r_jk or fixed angle (see :func:`triplet_slice`).

    The colour scale is symmetric about zero (blue: negative, red: positive)
    and spans ±max|V| unless ``vmax`` is given (the short-distance corner,
    rarely visited, can dominate it); grid points that cannot form a
    triangle are left blank.  The image (gid
    ``"V"``) holds exactly ``triplet_slice(...)["V"]`` (masked where invalid),
    pixel centres on the grid points.
    """
    from matplotlib.colors import Normalize

    model = _model(model)
    fig, ax = _axes(ax, figsize=(4.6, 3.8))
    s = triplet_slice(model, a, b, c, rjk=rjk, theta=theta, n=n, r_range=r_range)
    V = np.ma.masked_invalid(s["V"])
    if vmax is None:
        vmax = float(np.abs(V).max()) if V.count() else 0.0
    vmax = float(vmax) if vmax > 0 else 1e-12
    rij, rik = s["rij"], s["rik"]
    dx = (rij[-1] - rij[0]) / max(len(rij) - 1, 1)
    dy = (rik[-1] - rik[0]) / max(len(rik) - 1, 1)
    im = ax.imshow(
        V,
        origin="lower",
        extent=(rij[0] - dx / 2, rij[-1] + dx / 2, rik[0] - dy / 2, rik[-1] + dy / 2),
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        norm=Normalize(-vmax, vmax),
        gid="V",
    )
    if colorbar:
        fig.colorbar(im, ax=ax, label=f"$V_{{{a};{b}{c}}}$ (eV)")
    ax.set_xlabel(f"$r_{{ij}}$ (Å), j = {b}")
    ax.set_ylabel(f"$r_{{ik}}$ (Å), k = {c}")
    if theta is not None:
        ax.set_title(f"3-body {a};{b}{c}, θ_jik = {float(theta):g}°")
    else:
        ax.set_title(f"3-body {a};{b}{c}, r_jk = {float(rjk):.3g} Å")
    return fig


def plot_triplet(model, a, b, c, thetas=(60.0, 90.0, 120.0), rjk="auto", n=81):
    """A row of slices of V_a;bc: one per fixed angle, and one at fixed r_jk.

    ``rjk="auto"`` takes the middle of the r_ij knot range; None leaves the
    fixed-r_jk panel out.
    """
    from matplotlib.figure import Figure

    model = _model(model)
    span = _triplet_span(model, a, b, c)
    if span is None:
        raise ValueError(f"the model has no 3-body term for {a};{b}{c}")
    if isinstance(rjk, str) and rjk == "auto":
        rjk = 0.5 * (span[0][0] + span[1][0])
    specs = [dict(theta=t) for t in thetas] + ([dict(rjk=rjk)] if rjk is not None else [])
    fig = Figure(figsize=(4.2 * len(specs), 3.6), layout="constrained")
    axes = fig.subplots(1, len(specs), squeeze=False)[0]
    for ax, spec in zip(axes, specs):
        plot_triplet_slice(model, a, b, c, ax=ax, n=n, **spec)
    return fig


# --------------------------------------------------------------------------- universal function


def rose(a):
    """Rose's universal binding curve E*(a*) = −(1 + a* + 0.05 a*³) e^(−a*) (minimum −1 at 0)."""
    a = np.asarray(a, dtype=float)
    return -(1.0 + a + 0.05 * a**3) * np.exp(-a)


def _universal_spline(model_or_spline):
    from ..model import Spline1D

    if isinstance(model_or_spline, Spline1D):
        return model_or_spline
    model = _model(model_or_spline)
    if model.pair_universal is None:
        raise ValueError("the model has no universal 2-body function u(x)")
    return model.pair_universal


def fit_rose(model, x_range=None, n=400):
    """Fit Rose's curve to the universal function: u(x) ≈ E0 · E*((x − x0)/λ).

    Parameters
    ----------
    model : Model (or model file) with a universal 2-body part, or u itself
        as a :class:`~sus2c.model.Spline1D`
    x_range : (x_start, x_end) of the least-squares fit.  Default: around the
        well of u, from 1.2 λ below its minimum (where Rose's curve is back up
        to about +E0) to 4 λ above it, λ estimated from the curvature at the
        minimum; clipped to the knot range of u without its last interval
        (where the trailing trim forces u to zero).
    n : sample points in the fit range

    Returns
    -------
    dict with ``E0`` (eV, well depth), ``x0`` (position of the minimum),
    ``scale`` (λ, in units of x), ``rmse`` (eV) and ``max_error`` of the fit
    over ``x_range``, and the ``x_range`` used.

    Raises ValueError when u has no attractive well in its knot range.
    """
    from scipy.optimize import least_squares

    u = _universal_spline(model)
    h = (u.hi - u.lo) / u.intervals
    x_lo_def, x_hi_def = u.lo, u.hi - h
    xs = np.linspace(u.lo, u.hi, 4001)
    ys = u(xs)
    k = int(np.argmin(ys[xs <= x_hi_def]))
    xm, um = float(xs[k]), float(ys[k])
    if not um < 0:
        raise ValueError("u(x) has no attractive well: Rose's binding curve does not apply")
    E0 = -um
    curv = float(u(np.array([xm]), derivative=2)[0])
    lam = math.sqrt(E0 / curv) if curv > 0 else 0.1 * (u.hi - u.lo)
    if x_range is None:
        x_range = (max(x_lo_def, xm - 1.2 * lam), min(x_hi_def, xm + 4.0 * lam))
    x = np.linspace(float(x_range[0]), float(x_range[1]), int(n))
    y = u(x)

    def residual(p):
        return p[0] * rose((x - p[1]) / p[2]) - y

    sol = least_squares(
        residual,
        x0=[E0, xm, lam],
        bounds=([0.0, -np.inf, 1e-9], [np.inf, np.inf, np.inf]),
        x_scale=[E0, lam, lam],
        xtol=1e-14,
        ftol=1e-14,
        gtol=1e-14,
    )
    E0, x0, lam = (float(v) for v in sol.x)
    res = residual(sol.x)
    return {
        "E0": E0,
        "x0": x0,
        "scale": lam,
        "rmse": float(np.sqrt(np.mean(res**2))),
        "max_error": float(np.abs(res).max()),
        "x_range": (float(x_range[0]), float(x_range[1])),
    }


def plot_universal(model, ax=None, rose_fit=True, x_range=None, n=600):
    """The universal function u(x) with its knots and Rose's curve fitted over it.

    The fitted parameters (see :func:`fit_rose`) are in the legend and on
    ``fig.rose_fit`` (None when u has no well or ``rose_fit`` is False).
    """
    u = _universal_spline(model)
    fig, ax = _axes(ax)
    x, y = _draw_universal_curve(ax, u, n)
    fit = None
    if rose_fit:
        try:
            fit = fit_rose(u, x_range=x_range)
        except ValueError:
            fit = None
    if fit is not None:
        ax.plot(
            x,
            fit["E0"] * rose((x - fit["x0"]) / fit["scale"]),
            color="tab:red",
            lw=1.2,
            ls="--",
            label=(
                "Rose: $E_0\\,E^*((x-x_0)/\\lambda)$\n"
                f"$E_0$={fit['E0']:.4g}, $x_0$={fit['x0']:.4g}, $\\lambda$={fit['scale']:.4g}\n"
                f"rms dev. {fit['rmse']:.2g} on [{fit['x_range'][0]:.3g}, {fit['x_range'][1]:.3g}]"
            ),
            gid="rose",
        )
        ax.axvspan(*fit["x_range"], color="tab:red", alpha=0.06, lw=0, gid="rose-range")
    fig.rose_fit = fit
    _ylim(ax, y)
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel(r"reduced distance $x = (r - r_0)/l$")
    ax.set_ylabel("u(x) (eV)")
    ax.set_title("universal 2-body function")
    ax.legend(fontsize="small", frameon=False)
    return fig


def plot_collapse(model, ax=None, n=600, show_u=True):
    """UEOS collapse: every pair's phi_ab(r)/(w_a w_b) against x_ab = (r − r0_ab)/l_ab.

    Each pair is drawn over its own r range (first knot to cutoff); with
    purely universal 2-body terms all curves fall on u(x) (dashed, gid
    ``"u"``), specific parts show up as departures from it.
    """
    model = _model(model)
    if model.scaling is None:
        raise ValueError("the model has no universal scaling (no reduced coordinate to plot against)")
    fig, ax = _axes(ax)
    sc = model.scaling
    ax.axhline(0.0, color="0.6", lw=0.6, gid="zero")
    ys = []
    for a, b in model.pairs():
        span = _pair_span(model, a, b)
        if span is None:
            continue
        r0, l = sc.pair(a, b)
        w = sc.amplitudes[a] * sc.amplitudes[b]
        r = np.linspace(span[0], span[1], int(n))
        y = model.pair_energy(a, b, r) / w
        ax.plot((r - r0) / l, y, lw=1.4, label=f"{a}-{b}", gid=f"pair:{a}-{b}")
        ys.append(y)
    if show_u and model.pair_universal is not None:
        u = model.pair_universal
        x = np.linspace(u.lo, u.hi, int(n))
        ax.plot(x, u(x), color="k", lw=1.0, ls="--", label="u(x)", gid="u")
    if ys:
        _ylim(ax, np.concatenate(ys))
    ax.set_xlabel(r"$x_{ab} = (r - r_{0,ab})/l_{ab}$")
    ax.set_ylabel(r"$\varphi_{ab}(r)\,/\,(w_a w_b)$ (eV)")
    ax.set_title("universal collapse of the 2-body terms")
    ax.legend(fontsize="small", frameon=False)
    return fig


def coverage_ranges(model, frames=None, threads=1):
    """{(a, b): (x_lo, x_hi, r_lo, r_hi, source)}: where each pair's data put it on u(x).

    With ``frames``: the shortest and longest a-b distance in them below the
    universal part's cutoff (``source = "data"``); otherwise the fit
    metadata's r_min for the pair up to that cutoff (``source = "fit"``).
    x = (r - r0_ab) / l_ab.  Pairs with no known range are left out.
    """
    model = _model(model)
    if model.pair_universal is None or model.scaling is None:
        raise ValueError("the model has no universal 2-body function u(x)")
    sc = model.scaling
    ranges = None
    if frames is not None:
        ranges = distance_ranges(frames, model.elements, model.cutoff, threads)
    table = ((model.metadata or {}).get("fit") or {}).get("r_min") or {}
    out = {}
    for a, b in model.pairs():
        uni = [p for label, p in model.labelled_pair_parts(a, b) if label == "universal"]
        if not uni:
            continue
        hi = uni[0].hi
        r0, l = sc.pair(a, b)
        if ranges is not None:
            if (a, b) not in ranges or ranges[(a, b)][0] >= hi:
                continue
            r_lo, r_hi, src = ranges[(a, b)][0], min(ranges[(a, b)][1], hi), "data"
        else:
            r_min = next((table[k] for k in (f"{a}-{b}", f"{b}-{a}") if table.get(k) is not None), None)
            if r_min is None:
                continue
            r_lo, r_hi, src = float(r_min), hi, "fit"
        out[(a, b)] = ((r_lo - r0) / l, (r_hi - r0) / l, r_lo, r_hi, src)
    return out


def plot_coverage(model, frames=None, n=600, threads=1):
    """Where data constrain the universal function: u(x) above, each pair's x range below.

    Every pair's distances map onto u through x = (r - r0_ab)/l_ab; u is
    only pinned down where some pair's data land, and the bars show which
    pair that is (from ``frames`` if given, else from the fit metadata's
    r_min; see :func:`coverage_ranges`).  For a purely universal model this
    replaces the collapse plot, whose curves all lie on u by construction.
    """
    from matplotlib.figure import Figure

    model = _model(model)
    cov = coverage_ranges(model, frames, threads)
    u = model.pair_universal
    fig = Figure(figsize=(5.4, 4.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, max(1, len(cov))]})
    x, y = _draw_universal_curve(top, u, n)
    colors = _group_colors([f"{a}-{b}" for a, b in cov])
    for (a, b), (x_lo, x_hi, _, _, _) in cov.items():
        top.axvspan(x_lo, x_hi, color=colors[f"{a}-{b}"], alpha=0.08, lw=0, gid="covered")
    _ylim(top, y)
    top.set_ylabel("u(x) (eV)")
    source = "distances in the data" if frames is not None else "fitted range (r_min to cutoff)"
    top.set_title(f"where the data constrain u(x): {source}" if cov else "u(x): no pair's range is known",
                  fontsize="medium")
    top.legend(fontsize="small", frameon=False)
    for k, ((a, b), (x_lo, x_hi, r_lo, r_hi, _)) in enumerate(cov.items()):
        bottom.plot([x_lo, x_hi], [k, k], lw=6, solid_capstyle="butt", color=colors[f"{a}-{b}"],
                    label=f"{a}-{b}: r {r_lo:.2f}–{r_hi:.2f} Å", gid=f"range:{a}-{b}")
    bottom.set_yticks(range(len(cov)), [f"{a}-{b}" for a, b in cov])
    bottom.set_ylim(-0.7, max(len(cov), 1) - 0.3)
    bottom.set_xlim(x[0], x[-1])
    bottom.set_xlabel(r"reduced distance $x_{ab} = (r - r_{0,ab})/l_{ab}$")
    return fig


# --------------------------------------------------------------------------- errors on data


def predict(model, frames, threads=None):
    """Predictions of a model (or any ASE calculator) on frames, as from
    ``evaluate(..., return_predictions=True)["predictions"]``."""
    from ..evaluate import evaluate

    return evaluate(model, frames, threads=threads, return_predictions=True)["predictions"]


def _predictions(predictions):
    if isinstance(predictions, dict):
        if "predictions" not in predictions:
            raise ValueError("pass evaluate(..., return_predictions=True) or its 'predictions' list")
        predictions = predictions["predictions"]
    return list(predictions)


def parity_data(frames, predictions, quantity="energy"):
    """{group: (reference, predicted)} flat arrays in the plotted units.

    energy: per atom (eV/atom); forces: Cartesian components (eV/Å);
    stress: Voigt components (GPa), fully periodic frames only.  Frames
    without the label are skipped; groups keep the order of first appearance.
    """
    from ..units import EV_PER_A3_TO_GPA

    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {list(QUANTITIES)}, got {quantity!r}")
    predictions = _predictions(predictions)
    frames = list(frames)
    if len(frames) != len(predictions):
        raise ValueError(f"{len(frames)} frames but {len(predictions)} predictions")
    out: dict[str, tuple[list, list]] = {}
    for fr, p in zip(frames, predictions):
        n = len(fr.atoms)
        if quantity == "energy":
            if fr.energy is None:
                continue
            ref, pred = [fr.energy / n], [p["energy"] / n]
        elif quantity == "forces":
            if fr.forces is None:
                continue
            ref, pred = np.ravel(fr.forces), np.ravel(p["forces"])
        else:
            if fr.stress is None or p.get("stress") is None:
                continue
            ref = EV_PER_A3_TO_GPA * np.ravel(fr.stress)
            pred = EV_PER_A3_TO_GPA * np.ravel(p["stress"])
        g = out.setdefault(fr.group, ([], []))
        g[0].append(np.asarray(ref, dtype=float))
        g[1].append(np.asarray(pred, dtype=float))
    return {g: (np.concatenate(r), np.concatenate(q)) for g, (r, q) in out.items()}


def _errors(data, scale):
    err = np.concatenate([q - r for r, q in data.values()]) * scale if data else np.zeros(0)
    if err.size == 0:
        return None, None
    return float(np.abs(err).mean()), float(np.sqrt((err**2).mean()))


def _group_label(g):
    return g if g else "(no group)"


def _data_title(title, frames, data_label):
    """'Energy, test (40 structures)': what and which data a plot shows."""
    n = len(frames)
    which = data_label if data_label else "data"
    return f"{title}, {which} ({n} structure{'s' if n != 1 else ''})"


def plot_parity(frames, predictions, quantity="energy", ax=None, data_label=None):
    """Predicted against reference values, one colour per group, with y = x.

    ``predictions``: ``evaluate(model, frames, return_predictions=True)`` (or
    its ``"predictions"`` list, or :func:`predict`).  The title names the
    data (``data_label``, e.g. "train", "test" or a file name) and gives the
    MAE and RMSE over all groups (energies in meV/atom); the legend the MAE
    per group.  Each group's points are one scatter (gid ``"group:NAME"``)
    with offsets ``(reference, predicted)``.
    """
    title, unit, scale, eunit = QUANTITIES[quantity] if quantity in QUANTITIES else (None,) * 4
    data = parity_data(frames, predictions, quantity)
    fig, ax = _axes(ax, figsize=(4.4, 4.2))
    colors = _group_colors(list(data))
    allv = []
    for g, (ref, pred) in data.items():
        mae = float(np.abs(pred - ref).mean()) * scale
        ax.scatter(ref, pred, s=9 if quantity == "energy" else 4, alpha=0.75, color=colors[g], lw=0,
                   label=f"{_group_label(g)} (MAE {mae:.3g})", gid=f"group:{g}")
        allv.extend([ref, pred])
    if allv:
        v = np.concatenate(allv)
        lo, hi = float(v.min()), float(v.max())
        pad = 0.05 * (hi - lo) if hi > lo else max(abs(lo), 1.0) * 0.05
        lim = (lo - pad, hi + pad)
        ax.plot(lim, lim, color="0.4", lw=0.8, ls="--", gid="identity")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal", adjustable="box")
    mae, rmse = _errors(data, scale)
    head = _data_title(title, frames, data_label)
    if mae is None:
        ax.set_title(f"{head}: no {title.lower()} labels", fontsize="medium")
    else:
        ax.set_title(f"{head}\nMAE {mae:.3g}, RMSE {rmse:.3g} {eunit}", fontsize="medium")
        ax.legend(fontsize="small", frameon=False, title=f"MAE in {eunit}", title_fontsize="small")
    ax.set_xlabel(f"reference ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    return fig


def histogram_range(errors, width=8.0):
    """(lo, hi) of an error histogram: the data's range, cut at ``width`` robust standard
    deviations from the median, and always including 0.

    A few outliers must not set the range (with plain min/max one 100 eV/Å
    force error put every other error in one bin); quantiles do not help
    with few points (one outlier in 40 energies is the 97.5 % quantile).
    The robust standard deviation is 1.4826 x the median absolute deviation;
    for normally distributed errors nothing is cut.  Errors outside are
    counted in the end bins and reported by :func:`plot_error_histogram`.
    """
    e = np.asarray(errors, dtype=float)
    lo, hi = float(e.min()), float(e.max())
    med = float(np.median(e))
    s = 1.4826 * float(np.median(np.abs(e - med)))
    if s > 0:
        lo, hi = max(lo, med - width * s), min(hi, med + width * s)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0:
        pad = max(abs(lo), 1e-12)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def plot_error_histogram(frames, predictions, quantity="energy", ax=None, bins=40, data_label=None):
    """Histogram of prediction errors (energies in meV/atom), one per group on common bins.

    The bins span the errors without their outliers (:func:`histogram_range`);
    errors beyond are counted in the end bins and a note (gid ``"outliers"``)
    says how many there are and how large the largest is.  The title names
    the data (``data_label``).  ``fig.error_histogram`` holds the edges,
    the counts per group and the number of errors outside.
    """
    title, unit, scale, eunit = QUANTITIES[quantity] if quantity in QUANTITIES else (None,) * 4
    data = parity_data(frames, predictions, quantity)
    fig, ax = _axes(ax)
    colors = _group_colors(list(data))
    errs = {g: (q - r) * scale for g, (r, q) in data.items()}
    fig.error_histogram = None
    if errs:
        e = np.concatenate(list(errs.values()))
        lo, hi = histogram_range(e)
        edges = np.linspace(lo, hi, int(bins) + 1)
        counts = {}
        for g, d in errs.items():
            counts[g] = ax.hist(np.clip(d, lo, hi), bins=edges, histtype="stepfilled", alpha=0.45, color=colors[g],
                                ec=colors[g], label=_group_label(g), gid=f"group:{g}")[0]
        ax.axvline(0.0, color="0.4", lw=0.8, gid="zero")
        ax.legend(fontsize="small", frameon=False)
        outside = int(np.count_nonzero((e < lo) | (e > hi)))
        if outside:
            worst = float(e[np.argmax(np.abs(e))])
            ax.text(0.02, 0.97, f"{outside} of {e.size} beyond [{lo:.3g}, {hi:.3g}] {eunit},\n"
                    f"counted in the end bins (largest {worst:+.3g})", transform=ax.transAxes, va="top",
                    fontsize="small", color="tab:red", gid="outliers")
        ax.set_xlim(lo, hi)
        fig.error_histogram = {"edges": edges, "counts": counts, "outside": outside}
    mae, rmse = _errors(data, scale)
    head = _data_title(f"Errors in {title.lower()}", frames, data_label)
    if mae is None:
        ax.set_title(f"{head}: no labels", fontsize="medium")
    else:
        ax.set_title(f"{head}\nMAE {mae:.3g}, RMSE {rmse:.3g} {eunit}", fontsize="medium")
    ax.set_xlabel(f"predicted − reference ({eunit})")
    ax.set_ylabel("count")
    return fig


# --------------------------------------------------------------------------- everything


def plot_all(model, out, frames=None, fmt="png", threads=None, log=None):
    """Write every applicable plot of a model into the folder ``out``.

    - ``pair_A-B``: each 2-body term (range covered by ``frames`` if given,
      else by the fit metadata), and ``pairs``: all of them together;
    - ``triplet_A-B-C`` (centre A): slices of each 3-body term;
    - with an embedding: ``embedding`` (densities and F with the training range
      of rho), and for one element ``embedding_rose`` (F against the one Rose's
      binding curve implies for the reference crystal);
    - with a universal 2-body part: ``universal_u`` (u(x) with Rose's curve),
      ``universal_coverage`` (where each pair's data put it on u), and, when
      specific 2-body parts sit beside it, ``ueos_collapse`` (for a purely
      universal model every curve of the collapse is u itself);
    - with ``frames``: ``parity_Q`` and ``errors_Q`` for energy, forces and
      (when the frames have any) stress.  ``frames`` is a list of frames or
      a dict {label: frames} of separate data sets (e.g. {"train": ...,
      "test": ...}); each set gets its own plots, titled with its label, and
      with more than one set the files are ``parity_Q_LABEL``.

    Returns the list of files written.
    """
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from ..files import save_figure

    model = _model(model)
    log = log or (lambda *a, **k: None)
    os.makedirs(out, exist_ok=True)
    written = []

    def save(fig, name):
        path = save_figure(fig, os.path.join(out, f"{name}.{fmt}"), dpi=150)
        written.append(path)
        log(f"wrote {path}")

    if frames is None:
        sets = {}
    elif isinstance(frames, dict):
        sets = {str(k): list(v) for k, v in frames.items()}
    else:
        sets = {"data": list(frames)}
    frames = [fr for v in sets.values() for fr in v] or None
    ranges = None
    if frames:
        ranges = distance_ranges(frames, model.elements, model.cutoff, threads or 1)
    pairs = [(a, b) for a, b in model.pairs() if model.pair_parts(a, b)]
    for a, b in pairs:
        covered = None
        if ranges is not None:
            key = model.pair_key(a, b)
            hi = _pair_span(model, a, b)[1]
            if key in ranges and ranges[key][0] < hi:
                covered = (ranges[key][0], min(ranges[key][1], hi), "data")
            else:
                covered = False
        save(plot_pair(model, a, b, covered=covered), f"pair_{a}-{b}")
    if len(pairs) > 1:
        save(plot_pairs(model), "pairs")
    for a, b, c in model.triplets():
        if model.triplet_parts(a, b, c):
            save(plot_triplet(model, a, b, c), f"triplet_{a}-{b}-{c}")
    if model.describe().embedding:
        from .embedding_plots import plot_embedding, plot_embedding_rose

        save(plot_embedding(model), "embedding")
        if len(model.elements) == 1:
            save(plot_embedding_rose(model), "embedding_rose")
    if model.pair_universal is not None:
        save(plot_universal(model), "universal_u")
        save(plot_coverage(model, frames, threads=threads or 1), "universal_coverage")
        if model.pair_specific:
            save(plot_collapse(model), "ueos_collapse")
    for label, data in sets.items():
        if not data:
            continue
        predictions = predict(model, data, threads=threads)
        suffix = f"_{_file_label(label)}" if len(sets) > 1 else ""
        for q in QUANTITIES:
            if not parity_data(data, predictions, q):
                continue
            save(plot_parity(data, predictions, q, data_label=label), f"parity_{q}{suffix}")
            save(plot_error_histogram(data, predictions, q, data_label=label), f"errors_{q}{suffix}")
    return written


def _file_label(label):
    """A data set's label as part of a file name: 'data/test.xyz' -> 'test'."""
    import re

    stem = os.path.splitext(os.path.basename(label.rstrip("/")))[0] or label
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "data"
