"""sus2c.analysis: the plotted data are the model's own curves; files and the ``plot`` command."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from sus2c import bspline
from sus2c.calculator import Calculator
from sus2c.cli import main
from sus2c.data import Frame
from sus2c.evaluate import EV_PER_A3_TO_GPA, evaluate
from sus2c.model import Model, Scaling, Spline1D
from sus2c.testing import random_model, random_structure
from sus2c.analysis import (
    distance_ranges,
    fit_rose,
    parity_data,
    plot_all,
    coverage_ranges,
    plot_collapse,
    plot_coverage,
    plot_error_histogram,
    plot_pair,
    plot_pairs,
    plot_parity,
    plot_triplet,
    plot_triplet_slice,
    plot_universal,
    rose,
    training_range,
    triplet_slice,
)

ELEMENTS = ("Mo", "W")
TIGHT = dict(rtol=1e-12, atol=1e-12)


def _artist(items, gid):
    found = [a for a in items if a.get_gid() == gid]
    assert len(found) == 1, (gid, [a.get_gid() for a in items])
    return found[0]


def _xspan(patch):
    """x extent (data coordinates) of an axvspan patch (Rectangle or Polygon, by matplotlib version)."""
    v = patch.get_patch_transform().transform(patch.get_path().vertices)
    return float(v[:, 0].min()), float(v[:, 0].max())


@pytest.fixture(scope="module")
def hybrid():
    """Specific + universal 2- and 3-body parts, two elements."""
    return random_model(elements=ELEMENTS, two_body="both", three_body="both", seed=11)


def _rose_spline(E0, x0, lam, lo=-2.0, hi=6.0, n=48):
    """u(x) = least-squares cubic spline of E0 E*((x - x0)/lam), last 3 coefficients zero."""
    x = np.linspace(lo, hi, 3000)
    A = bspline.design_matrix(lo, hi, n, x)[:, : -bspline.TRIM]
    c, *_ = np.linalg.lstsq(A, E0 * rose((x - x0) / lam), rcond=None)
    return Spline1D(lo, hi, n, np.concatenate([c, np.zeros(bspline.TRIM)]))


def _rose_model():
    u = _rose_spline(0.8, 0.3, 0.45)
    scaling = Scaling(
        "pair",
        {"Cu": 1.0, "Ni": 1.2},
        pairs={("Cu", "Cu"): (2.55, 0.30), ("Cu", "Ni"): (2.52, 0.28), ("Ni", "Ni"): (2.49, 0.27)},
    )
    return Model(["Cu", "Ni"], pair_universal=u, scaling=scaling)


# --------------------------------------------------------------------------- 2-body


def test_pair_curve_parts_and_knots_are_the_models(hybrid):
    a, b = "Mo", "W"
    fig = plot_pair(hybrid, a, b)
    (ax,) = [x for x in fig.axes]
    r, phi = _artist(ax.lines, "phi").get_xydata().T
    assert r.size > 100
    np.testing.assert_allclose(phi, hybrid.pair_energy(a, b, r), **TIGHT)
    # the parts, computed independently from the stored splines
    spec = hybrid.pair_specific[(a, b)]
    np.testing.assert_allclose(_artist(ax.lines, "part:specific").get_ydata(), spec(r), **TIGHT)
    r0, l = hybrid.scaling.pair(a, b)
    w = hybrid.scaling.amplitudes[a] * hybrid.scaling.amplitudes[b]
    uni = w * hybrid.pair_universal((r - r0) / l)
    np.testing.assert_allclose(_artist(ax.lines, "part:universal").get_ydata(), uni, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(spec(r) + uni, phi, rtol=1e-9, atol=1e-12)
    # knots of each part, on the curve
    in_view = lambda k: k[(k >= r[0]) & (k <= r[-1])]  # noqa: E731
    k_spec = in_view(np.unique(spec.knots))
    k_uni = in_view(r0 + l * np.unique(hybrid.pair_universal.knots))
    for gid, k in (("knots:specific", k_spec), ("knots:universal", k_uni)):
        kx, ky = _artist(ax.lines, gid).get_xydata().T
        np.testing.assert_allclose(kx, k, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ky, hybrid.pair_energy(a, b, kx), **TIGHT)
    # the curve runs from below the first knot to past the cutoff
    assert r[0] < min(k_spec[0], k_uni[0]) and r[-1] > hybrid.cutoff2(a, b)
    # no fit metadata and no frames: nothing shaded
    assert not [p for p in ax.patches if p.get_gid() == "training-range"]


def test_pair_covered_range_from_metadata_and_from_frames():
    model = random_model(elements=ELEMENTS, two_body="specific", seed=2)
    model.metadata = {"fit": {"r_min": {"W-Mo": 1.9}}}  # key order as written by the fit may differ
    ax = plot_pair(model, "Mo", "W").axes[0]
    span = _xspan(_artist(ax.patches, "training-range"))
    assert span == pytest.approx((1.9, model.cutoff2("Mo", "W")), abs=1e-12)

    frames = [random_structure("bulk", ELEMENTS, seed=s, rattle=0.1) for s in range(2)]
    from ase.neighborlist import neighbor_list as ase_nl

    rc = model.cutoff2("Mo", "W")
    d_ref = []
    for atoms in frames:
        i, j, d = ase_nl("ijd", atoms, rc)
        s = np.array(atoms.get_chemical_symbols())
        d_ref.append(d[s[i] != s[j]])
    d_ref = np.concatenate(d_ref)
    lo, hi, src = training_range(model, "W", "Mo", frames=frames)
    assert src == "data" and (lo, hi) == pytest.approx((d_ref.min(), d_ref.max()), abs=1e-10)
    ax = plot_pair(model, "Mo", "W", frames=frames).axes[0]
    assert _xspan(_artist(ax.patches, "training-range")) == pytest.approx((lo, hi), abs=1e-10)
    ranges = distance_ranges(frames, model.elements, rc)
    assert set(ranges) == {("Mo", "Mo"), ("Mo", "W"), ("W", "W")}


def test_pairs_overlay_and_given_axes(hybrid):
    from matplotlib.figure import Figure

    fig = Figure()
    axes = fig.subplots(1, 2)
    out = plot_pairs(hybrid, ax=axes[1])
    assert out is fig and not axes[0].lines
    for a, b in hybrid.pairs():
        r, y = _artist(axes[1].lines, f"pair:{a}-{b}").get_xydata().T
        np.testing.assert_allclose(y, hybrid.pair_energy(a, b, r), **TIGHT)


# --------------------------------------------------------------------------- 3-body


@pytest.mark.parametrize("centre,b,c", [("Mo", "Mo", "W"), ("W", "Mo", "Mo")])
def test_triplet_heat_map_at_fixed_angle_is_the_model(hybrid, centre, b, c):
    n, theta = 31, 100.0
    fig = plot_triplet_slice(hybrid, centre, b, c, theta=theta, n=n)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the colour bar
    im = _artist(ax.images, "V")
    V = np.ma.getdata(im.get_array())
    assert V.shape == (n, n)
    # the grid: each leg's knot range over all parts, pixel centres on the grid points
    parts = hybrid.triplet_parts(centre, b, c)
    rij = np.linspace(min(p.lo[0] for p in parts), max(p.hi[0] for p in parts), n)
    rik = np.linspace(min(p.lo[1] for p in parts), max(p.hi[1] for p in parts), n)
    dx, dy = rij[1] - rij[0], rik[1] - rik[0]
    np.testing.assert_allclose(im.get_extent(), [rij[0] - dx / 2, rij[-1] + dx / 2, rik[0] - dy / 2, rik[-1] + dy / 2])
    RIJ, RIK = np.meshgrid(rij, rik)
    RJK = np.sqrt(RIJ**2 + RIK**2 - 2 * RIJ * RIK * math.cos(math.radians(theta)))
    expected = hybrid.triplet_energy(centre, b, c, RIJ, RIK, RJK)
    np.testing.assert_allclose(V, expected, rtol=1e-10, atol=1e-13)
    assert np.abs(expected).max() > 1e-4  # not a trivially zero slice
    # colour scale symmetric about zero and spanning the data
    assert im.norm.vmin == pytest.approx(-im.norm.vmax)
    assert im.norm.vmax == pytest.approx(np.abs(expected).max())


def test_triplet_heat_map_at_fixed_rjk_masks_impossible_triangles(hybrid):
    n, rjk = 25, 2.2
    ax = plot_triplet_slice(hybrid, "Mo", "W", "W", rjk=rjk, n=n).axes[0]
    arr = _artist(ax.images, "V").get_array()
    s = triplet_slice(hybrid, "Mo", "W", "W", rjk=rjk, n=n)
    RIJ, RIK = np.meshgrid(s["rij"], s["rik"])
    possible = (np.abs(RIJ - RIK) <= rjk) & (rjk <= RIJ + RIK)
    assert not possible.all() and possible.any()
    np.testing.assert_array_equal(np.ma.getmaskarray(arr), ~possible)
    np.testing.assert_allclose(
        arr[possible], hybrid.triplet_energy("Mo", "W", "W", RIJ, RIK, np.full(RIJ.shape, rjk))[possible], **TIGHT
    )
    # like neighbours: the slice is symmetric under r_ij <-> r_ik
    V = np.ma.getdata(arr)
    np.testing.assert_allclose(np.where(possible, V, 0), np.where(possible, V, 0).T, rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match="exactly one"):
        triplet_slice(hybrid, "Mo", "W", "W", rjk=2.0, theta=90.0)


def test_triplet_panels(hybrid):
    fig = plot_triplet(hybrid, "W", "Mo", "W", thetas=(70.0, 110.0), n=15)
    images = [im for ax in fig.axes for im in ax.images]
    assert len(images) == 3 and len(fig.axes) == 6  # 3 heat maps + 3 colour bars


# --------------------------------------------------------------------------- universal


def test_rose_fit_recovers_a_scaled_rose_curve():
    model = _rose_model()
    fit = fit_rose(model)
    assert fit["E0"] == pytest.approx(0.8, rel=1e-3)
    assert fit["x0"] == pytest.approx(0.3, abs=1e-3)
    assert fit["scale"] == pytest.approx(0.45, rel=1e-3)
    assert fit["rmse"] < 1e-3
    assert fit_rose(model.pair_universal) == fit  # u itself works too
    assert rose(0.0) == -1.0

    fig = plot_universal(model)
    ax = fig.axes[0]
    u = model.pair_universal
    x, y = _artist(ax.lines, "u").get_xydata().T
    np.testing.assert_allclose(y, u(x), **TIGHT)
    assert x[0] == u.lo and x[-1] == u.hi
    kx, ky = _artist(ax.lines, "knots:u").get_xydata().T
    np.testing.assert_allclose(kx, np.unique(u.knots))
    np.testing.assert_allclose(ky, u(kx), **TIGHT)
    xr, yr = _artist(ax.lines, "rose").get_xydata().T
    assert fig.rose_fit == fit
    np.testing.assert_allclose(yr, fit["E0"] * rose((xr - fit["x0"]) / fit["scale"]), **TIGHT)
    assert "E_0$=0.8" in _artist(ax.lines, "rose").get_label()


def test_rose_fit_needs_a_well():
    u = Spline1D(-1.0, 4.0, 6, np.array([2.0, 1.0, 0.4, 0.1, 0.02, 0.01, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="no attractive well"):
        fit_rose(u)
    fig = plot_universal(u)
    assert fig.rose_fit is None
    assert not [line for line in fig.axes[0].lines if line.get_gid() == "rose"]


@pytest.mark.parametrize("mode", ["pair", "element"])
def test_ueos_collapse_lines(mode):
    model = random_model(elements=("Mo", "W", "Nb"), two_body="both", seed=4, scaling_mode=mode)
    ax = plot_collapse(model).axes[0]
    sc = model.scaling
    for a, b in model.pairs():
        x, y = _artist(ax.lines, f"pair:{a}-{b}").get_xydata().T
        r0, l = sc.pair(a, b)
        w = sc.amplitudes[a] * sc.amplitudes[b]
        np.testing.assert_allclose(y, model.pair_energy(a, b, r0 + l * x) / w, rtol=1e-9, atol=1e-12)
    xu, yu = _artist(ax.lines, "u").get_xydata().T
    np.testing.assert_allclose(yu, model.pair_universal(xu), **TIGHT)

    # purely universal 2-body terms collapse exactly onto u(x)
    pure = _rose_model()
    ax = plot_collapse(pure).axes[0]
    for a, b in pure.pairs():
        x, y = _artist(ax.lines, f"pair:{a}-{b}").get_xydata().T
        np.testing.assert_allclose(y, pure.pair_universal(x), rtol=1e-9, atol=1e-12)

    with pytest.raises(ValueError, match="no universal scaling"):
        plot_collapse(random_model(two_body="specific"))


# --------------------------------------------------------------------------- errors on data


def _labelled_frames(reference, n=4):
    """Frames labelled by ``reference`` (groups 'bulk' and 'slab'; one without forces)."""
    frames = []
    for k in range(n):
        kind = "bulk" if k % 2 == 0 else "slab"
        atoms = random_structure(kind, ELEMENTS, seed=20 + k, rattle=0.08)
        atoms.calc = Calculator(reference, threads=1)
        e = atoms.get_potential_energy()
        f = atoms.get_forces().copy()
        s = atoms.get_stress().copy() if atoms.pbc.all() else None
        atoms.calc = None
        frames.append(Frame(atoms, e, f, s, 1.0, kind, f"{kind}:{k}"))
    frames[-1].forces = None
    return frames


@pytest.fixture(scope="module")
def scored():
    model = random_model(elements=ELEMENTS, two_body="specific", three_body="specific", seed=1)
    reference = random_model(elements=ELEMENTS, two_body="specific", three_body="specific", seed=2)
    frames = _labelled_frames(reference)
    return model, frames, evaluate(model, frames, threads=1, return_predictions=True)


def test_parity_points_are_predictions_against_references(scored):
    model, frames, result = scored
    preds = result["predictions"]
    ax = plot_parity(frames, result, "energy").axes[0]
    for g in ("bulk", "slab"):
        pts = _artist(ax.collections, f"group:{g}").get_offsets()
        sel = [(fr, p) for fr, p in zip(frames, preds) if fr.group == g]
        ref = [fr.energy / len(fr.atoms) for fr, _ in sel]
        pred = [p["energy"] / len(fr.atoms) for fr, p in sel]
        np.testing.assert_allclose(np.asarray(pts), np.column_stack([ref, pred]), **TIGHT)
    assert f"MAE {result['energy_mae_mev_per_atom']:.3g}," in ax.get_title()
    assert f"RMSE {result['energy_rmse_mev_per_atom']:.3g} meV/atom" in ax.get_title()
    x, y = _artist(ax.lines, "identity").get_xydata().T
    np.testing.assert_allclose(x, y)

    ax = plot_parity(frames, preds, "forces").axes[0]
    pts = _artist(ax.collections, "group:slab").get_offsets()
    sel = [(fr, p) for fr, p in zip(frames, preds) if fr.group == "slab" and fr.forces is not None]
    np.testing.assert_allclose(
        np.asarray(pts),
        np.column_stack([np.concatenate([fr.forces.ravel() for fr, _ in sel]),
                         np.concatenate([p["forces"].ravel() for _, p in sel])]),
        **TIGHT,
    )
    assert f"MAE {result['force_mae_ev_per_a']:.3g}," in ax.get_title()

    data = parity_data(frames, preds, "stress")
    assert list(data) == ["bulk"]  # slabs have no stress
    np.testing.assert_allclose(data["bulk"][0], EV_PER_A3_TO_GPA * np.concatenate([frames[0].stress, frames[2].stress]))
    assert f"MAE {result['stress_mae_gpa']:.3g}," in plot_parity(frames, preds, "stress").axes[0].get_title()


def test_error_histograms(scored):
    model, frames, result = scored
    ax = plot_error_histogram(frames, result, "forces").axes[0]
    assert {p.get_gid() for p in ax.patches} == {"group:bulk", "group:slab"}
    assert f"MAE {result['force_mae_ev_per_a']:.3g}," in ax.get_title()
    ax = plot_error_histogram(frames, result["predictions"], "energy").axes[0]
    assert f"RMSE {result['energy_rmse_mev_per_atom']:.3g} meV/atom" in ax.get_title()
    with pytest.raises(ValueError, match="quantity"):
        plot_parity(frames, result, "virial")


# --------------------------------------------------------------------------- files and command


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_files_for_each_format(tmp_path, fmt, magic):
    model = random_model(two_body="universal", seed=3)
    path = tmp_path / f"u.{fmt}"
    plot_universal(model).savefig(path)
    assert path.read_bytes()[:16].startswith(magic)
    if fmt == "svg":
        assert b"<svg" in path.read_bytes()[:2000]
    with pytest.raises(ValueError, match="format"):
        plot_all(model, tmp_path, fmt="jpg")


def test_no_pyplot_and_backend_untouched():
    code = (
        "import matplotlib; matplotlib.use('svg'); "
        "from sus2c.testing import random_model; from sus2c.analysis import plot_pair; "
        "import sys, io; plot_pair(random_model(), 'Mo', 'Mo').savefig(io.BytesIO(), format='png'); "
        "assert 'matplotlib.pyplot' not in sys.modules; "
        "assert matplotlib.get_backend().lower() == 'svg', matplotlib.get_backend()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_command(tmp_path, capsys):
    import ase.io

    model = random_model(elements=("Mo",), two_body="both", three_body="specific", seed=6)
    path = tmp_path / "model.json"
    model.save(path)
    reference = random_model(elements=("Mo",), two_body="both", three_body="specific", seed=7)
    images = []
    for k, kind in enumerate(("bulk", "cluster")):
        atoms = random_structure(kind, ("Mo",), seed=k, rattle=0.05)
        atoms.calc = Calculator(reference, threads=1)
        res = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        atoms.calc = SinglePointCalculator(atoms, **res)
        atoms.info["config_type"] = kind
        images.append(atoms)
    data = tmp_path / "data.xyz"
    ase.io.write(data, images)

    out = tmp_path / "plots"
    assert main(["plot", str(path), "--out", str(out), "--data", str(data), "--format", "svg", "--threads", "1"]) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {
        "pair_Mo-Mo.svg",
        "triplet_Mo-Mo-Mo.svg",
        "universal_u.svg",
        "universal_coverage.svg",
        "ueos_collapse.svg",  # specific parts beside u: the collapse shows them
        "parity_energy.svg",
        "errors_energy.svg",
        "parity_forces.svg",
        "errors_forces.svg",
    }
    assert "wrote 9 plot(s)" in capsys.readouterr().out

    # a purely specific model without data: curves only
    specific = random_model(elements=("Mo", "W"), two_body="specific", seed=8)
    specific.save(tmp_path / "specific.json")
    out2 = tmp_path / "plots2"
    assert main(["plot", str(tmp_path / "specific.json"), "--out", str(out2)]) == 0
    assert {p.name for p in out2.iterdir()} == {"pair_Mo-Mo.png", "pair_Mo-W.png", "pair_W-W.png", "pairs.png"}

    # two data files: two data sets, each with its own labelled plots (were merged silently)
    import shutil

    shutil.copy(data, tmp_path / "test.xyz")
    out3 = tmp_path / "plots3"
    assert main(["plot", str(tmp_path / "specific.json"), "--out", str(out3), "--data", str(data),
                 str(tmp_path / "test.xyz"), "--threads", "1"]) == 0
    names = {p.name for p in out3.iterdir()}
    assert {"parity_energy_data.png", "parity_energy_test.png", "errors_forces_test.png"} <= names
    assert "parity_energy.png" not in names
    capsys.readouterr()

    assert main(["plot", str(tmp_path / "missing.json"), "--out", str(out2)]) == 2
    assert "sus2c plot: error" in capsys.readouterr().err


# --------------------------------------------------------------------------- reports that say what they show (issue 14.9)


def test_parity_and_error_plots_name_their_data(scored):
    model, frames, result = scored
    for plot in (plot_parity, plot_error_histogram):
        title = plot(frames, result, "energy", data_label="test").axes[0].get_title()
        assert title.startswith("Energy, test (4 structures)" if plot is plot_parity
                                else "Errors in energy, test (4 structures)"), title
        # the numbers stay in the title
        assert f"RMSE {result['energy_rmse_mev_per_atom']:.3g} meV/atom" in title
        assert plot(frames, result, "forces").axes[0].get_title().split("\n")[0].endswith(", data (4 structures)")


def _outlier_frames():
    """One 60-atom frame whose predicted forces are off by N(0, 0.05) eV/Å, one component by 100."""
    from ase import Atoms

    rng = np.random.default_rng(5)
    atoms = Atoms("Mo60", positions=rng.uniform(0, 20, (60, 3)))
    ref = rng.normal(size=(60, 3))
    pred = ref + rng.normal(scale=0.05, size=ref.shape)
    pred[7, 1] += 100.0
    frame = Frame(atoms, -1.0, ref, None, 1.0, "md", "md:0")
    return [frame], [{"energy": -1.001, "forces": pred, "stress": None}]


def test_error_histogram_range_is_not_set_by_one_outlier():
    frames, preds = _outlier_frames()
    fig = plot_error_histogram(frames, preds, "forces")
    h = fig.error_histogram
    counts = h["counts"]["md"]
    assert counts.sum() == 180  # every error counted, the outlier in the end bin
    assert counts[-1] >= 1 and h["outside"] >= 1
    # was: bins from -0.15 to 100, all 179 ordinary errors in one bin
    assert counts.max() < 0.3 * counts.sum()
    assert h["edges"][-1] < 1.0 and h["edges"][0] > -1.0
    note = _artist(fig.axes[0].texts, "outliers").get_text()
    assert note.startswith(f"{h['outside']} of 180 beyond") and "largest +100" in note


def _universal_cuni():
    u = _rose_spline(0.8, 0.3, 0.45)
    scaling = Scaling(
        "pair",
        {"Cu": 1.0, "Ni": 1.2},
        pairs={("Cu", "Cu"): (2.55, 0.30), ("Cu", "Ni"): (2.52, 0.28), ("Ni", "Ni"): (2.49, 0.27)},
    )
    model = Model(["Cu", "Ni"], pair_universal=u, scaling=scaling)
    model.metadata = {"fit": {"r_min": {"Cu-Cu": 2.2, "Ni-Cu": 2.3}}}  # no Ni-Ni: range unknown
    return model


def test_universal_coverage_shows_each_pairs_range_on_u():
    model = _universal_cuni()
    u = model.pair_universal
    fig = plot_coverage(model)
    top, bottom = fig.axes
    x, y = _artist(top.lines, "u").get_xydata().T
    np.testing.assert_allclose(y, u(x), **TIGHT)
    for (a, b), r_min in ((("Cu", "Cu"), 2.2), (("Cu", "Ni"), 2.3)):
        r0, l = model.scaling.pair(a, b)
        xs = _artist(bottom.lines, f"range:{a}-{b}").get_xdata()
        # from the fitted r_min to the cutoff of the pair's universal part (u.hi in x)
        np.testing.assert_allclose(xs, [(r_min - r0) / l, u.hi], rtol=1e-12)
    assert not [ln for ln in bottom.lines if ln.get_gid() == "range:Ni-Ni"]
    assert "fitted range" in top.get_title()

    # with data: the real distances
    frames = [random_structure("bulk", ("Cu", "Ni"), seed=s, rattle=0.1) for s in range(2)]
    cov = coverage_ranges(model, frames)
    ranges = distance_ranges(frames, model.elements, model.cutoff)
    assert set(cov) == set(ranges) == {("Cu", "Cu"), ("Cu", "Ni"), ("Ni", "Ni")}
    bottom = plot_coverage(model, frames).axes[1]
    for (a, b), (d_lo, d_hi) in ranges.items():
        r0, l = model.scaling.pair(a, b)
        xs = _artist(bottom.lines, f"range:{a}-{b}").get_xdata()
        np.testing.assert_allclose(xs, [(d_lo - r0) / l, (min(d_hi, r0 + l * u.hi) - r0) / l], rtol=1e-12)


def test_plot_all_separates_data_sets_and_skips_a_trivial_collapse(tmp_path, scored):
    model, frames, _ = scored
    uni = _universal_cuni()
    written = plot_all(uni, tmp_path / "u", fmt="svg")
    names = {p.rsplit("/", 1)[-1] for p in written}
    # purely universal: every collapse curve would be u itself
    assert names == {"universal_u.svg", "universal_coverage.svg", "pairs.svg", "pair_Cu-Cu.svg",
                     "pair_Cu-Ni.svg", "pair_Ni-Ni.svg"}

    pairs_only = random_model(elements=ELEMENTS, two_body="specific", seed=1)  # fewer plots: a faster test
    written = plot_all(pairs_only, tmp_path / "m", frames={"train": frames[:2], "data/test.xyz": frames[2:]},
                       fmt="svg")
    names = {p.rsplit("/", 1)[-1] for p in written}
    assert {"parity_energy_train.svg", "errors_forces_train.svg", "parity_energy_test.svg",
            "errors_forces_test.svg"} <= names
    assert not [n for n in names if n.startswith("parity_") and n.count("_") == 1]


def test_embedding_plots_show_functions_training_range_and_rose():
    """plot_all draws the embedding (densities, F with the training range of rho) and,
    for one element, F next to the Foiles-Baskes-Daw function from Rose's curve: the two
    agree near the model's equilibrium, where the data are."""
    import warnings

    from sus2c.analysis import embedding_from_rose, plot_embedding
    from sus2c.fit import FitSettings, fit

    import test_embedding

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit(test_embedding._emt_frames(20, 1), FitSettings(cutoff2=5.0, cutoff3=0.0, intervals2=14,
                                                                   embedding="specific", scaling_iterations=6)).model
    fig = plot_embedding(model)
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children()}
    assert {"F:Cu", "f:Cu<-Cu", "rho-range"} <= gids
    d = embedding_from_rose(model)
    assert d["lattice"] == "fcc" and 3.5 < d["a0"] < 3.7  # EMT Cu: 3.59 A
    near = np.abs(d["a"] / d["a0"] - 1.0) < 0.03
    assert np.max(np.abs(d["F_model"][near] - d["F_rose"][near])) < 0.02
