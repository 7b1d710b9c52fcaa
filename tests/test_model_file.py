"""The model file: exact save/load round trips and clear errors for bad files."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

import sus2c
from sus2c import Model, ModelError, Scaling, Spline1D, Spline3D
from sus2c.calculator import Calculator
from sus2c.model import SCHEMA_VERSION
from sus2c.testing import random_model, random_structure

DATA = Path(__file__).resolve().parent / "data"

KINDS = {
    "specific": dict(elements=("Mo", "W"), two_body="specific", three_body="specific"),
    "universal-pair": dict(elements=("Mo", "W", "Nb"), two_body="universal", three_body="universal"),
    "universal-element": dict(
        elements=("Mo", "W", "Nb"), two_body="universal", three_body="universal", scaling_mode="element"
    ),
    "hybrid": dict(elements=("Mo", "W"), two_body="both", three_body="both"),
    "hybrid-2body-only": dict(elements=("Mo", "Nb"), two_body="both", three_body=None),
    "embedding-universal-element": dict(elements=("Mo", "W", "Nb"), two_body="universal", three_body=None,
                                        embedding="universal", scaling_mode="element"),
    "embedding-both": dict(elements=("Mo", "W"), two_body="specific", three_body="specific", embedding="both"),
}


def _model(kind, seed=21):
    return random_model(seed=seed, **KINDS[kind])


def _results(model, atoms):
    atoms = atoms.copy()
    atoms.calc = Calculator(model, threads=1)
    return (
        atoms.get_potential_energy(),
        atoms.get_forces(),
        atoms.get_stress(),
        atoms.get_potential_energies(),
    )


@pytest.fixture
def saved(tmp_path):
    """A saved hybrid model: (path, dict as written)."""
    model = _model("hybrid")
    path = tmp_path / "model.json"
    model.save(path)
    return path, json.loads(path.read_text())


@pytest.fixture
def saved_v1():
    """The same hybrid model as written by sus2c before schema version 2 (tests/data/README.md)."""
    path = DATA / "model-v1-hybrid.json"
    return path, json.loads(path.read_text())


def _write(tmp_path, d, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(d))
    return path


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("kind", list(KINDS))
def test_round_trip_is_exact(kind, tmp_path):
    model = _model(kind)
    model.metadata["note"] = {"rmse": [0.001, 0.02], "text": "fit on ünïcode data"}
    path = tmp_path / f"{kind}.json"
    model.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "sus2c-model" and doc["version"] == SCHEMA_VERSION
    loaded = sus2c.load(path)
    assert isinstance(loaded, Model)
    assert loaded.to_dict() == model.to_dict()
    assert loaded.elements == model.elements
    assert loaded.n_parameters() == model.n_parameters()
    assert loaded.cutoff == model.cutoff
    # save -> load -> save gives the same bytes
    path2 = tmp_path / f"{kind}-2.json"
    loaded.save(path2)
    assert path2.read_text() == path.read_text()
    # and the calculator gives bit-for-bit identical numbers (also when given the path)
    atoms = random_structure("bulk", model.elements, seed=2)
    ref = _results(model, atoms)
    for other in (loaded, str(path)):
        res = _results(other, atoms)
        for a, b in zip(ref, res):
            assert np.array_equal(a, b)
    assert np.abs(ref[1]).max() > 0


def test_round_trip_keeps_noncanonical_triplet_orientation(tmp_path):
    """A triplet given as (Mo; W, Mo) is stored canonically as (Mo; Mo, W) with legs swapped."""
    rng = np.random.default_rng(0)
    n = (4, 5, 6)
    c = rng.uniform(-0.05, 0.05, size=tuple(k + 3 for k in n))
    c[-3:, :, :] = 0
    c[:, -3:, :] = 0
    c[:, :, -3:] = 0
    s = Spline3D((1.5, 1.6, 1.7), (4.0, 3.8, 7.6), n, c)
    model = Model(["Mo", "W"], triplet_specific={("Mo", "W", "Mo"): s})
    assert list(model.triplet_specific) == [("Mo", "Mo", "W")]
    path = tmp_path / "t.json"
    model.save(path)
    loaded = sus2c.load(path)
    rij, rik, rjk = np.array([2.1, 2.5]), np.array([2.7, 2.2]), np.array([3.0, 2.4])
    want = s(rij, rik, rjk)  # V_Mo;W,Mo with j = W, k = Mo
    assert np.abs(want).max() > 0
    for m in (model, loaded):
        np.testing.assert_array_equal(m.triplet_energy("Mo", "W", "Mo", rij, rik, rjk), want)
        # same function seen with j and k exchanged (summation order differs: not bit-exact)
        np.testing.assert_allclose(m.triplet_energy("Mo", "Mo", "W", rik, rij, rjk), want, rtol=1e-13, atol=1e-16)


# --------------------------------------------------------------------------- load errors


def test_model_error_is_value_error():
    assert issubclass(ModelError, ValueError)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match=r"model file not found: .*nope\.json"):
        sus2c.load(path)


def test_not_json(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("elements = ['Mo']\n")
    with pytest.raises(ModelError, match=r"model\.json is not a sus2c model file \(not valid JSON"):
        sus2c.load(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(ModelError, match="not valid JSON"):
        sus2c.load(path)
    path.write_text('{"format": "sus2c-model", "version": 1,')  # truncated
    with pytest.raises(ModelError, match="not valid JSON"):
        sus2c.load(path)


@pytest.mark.parametrize(
    "doc, message",
    [
        ([1, 2, 3], "must hold a JSON object"),
        ({"format": "uf3", "version": 1}, r"not a sus2c model: 'format' is 'uf3'"),
        ({"version": 1}, r"not a sus2c model: 'format' is None"),
    ],
)
def test_not_a_model(tmp_path, doc, message):
    with pytest.raises(ModelError, match=message):
        sus2c.load(_write(tmp_path, doc))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("elements"), r"model: missing field 'elements'"),
        (lambda d: d.pop("one_body"), r"model: missing field 'one_body'"),
        (lambda d: d.pop("version"), r"model: missing field 'version'"),
        (lambda d: d["two_body"].pop("universal"), r"model\.two_body: missing field 'universal'"),
        (lambda d: d["three_body"].pop("specific"), r"model\.three_body: missing field 'specific'"),
        (lambda d: d["two_body"]["specific"]["Mo-W"].pop("coefficients"),
         r"2-body specific Mo-W: missing field 'coefficients'"),
        (lambda d: d["three_body"]["universal"].pop("hi"), r"3-body universal: missing field 'hi'"),
        (lambda d: d["scaling"].pop("amplitudes"), r"model\.scaling: missing field 'amplitudes'"),
        (lambda d: d["scaling"]["pairs"].pop("Mo-W"), r"scaling: no \(r0, l\) for the pair Mo-W"),
        (lambda d: d["scaling"]["pairs"]["W-W"].pop("l"), r"model\.scaling\.pairs\.W-W: missing field 'l'"),
        (lambda d: d["one_body"].pop("W"), r"model\.one_body has no energy for \['W'\]"),
        (lambda d: d.__setitem__("scaling", None), r"universal parts needs a scaling"),
    ],
)
def test_missing_field(saved_v1, tmp_path, edit, message):
    _, d = saved_v1
    d = copy.deepcopy(d)
    edit(d)
    with pytest.raises(ModelError, match=message):
        sus2c.load(_write(tmp_path, d))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.__setitem__("version", "1"), r"model\.version must be an integer, got '1'"),
        (lambda d: d.__setitem__("version", 1.0), r"model\.version must be an integer, got 1\.0"),
        (lambda d: d.__setitem__("version", True), r"model\.version must be an integer"),
        (lambda d: d.__setitem__("elements", "MoW"), r"model\.elements must be a list of chemical symbols"),
        (lambda d: d.__setitem__("elements", ["Mo", 74]), r"model\.elements must be a list of chemical symbols"),
        (lambda d: d["one_body"].__setitem__("Mo", "-3.2"), r"model\.one_body\.Mo: expected a number, got str"),
        (lambda d: d["one_body"].__setitem__("Mo", None), r"model\.one_body\.Mo: expected a number, got NoneType"),
        (lambda d: d.__setitem__("two_body", []), r"model\.two_body: expected an object, got list"),
        (lambda d: d["two_body"].__setitem__("specific", [1]), r"model\.two_body\.specific: expected an object"),
        (lambda d: d["two_body"]["specific"]["Mo-Mo"].__setitem__("intervals", 12.0),
         r"2-body specific Mo-Mo\.intervals: expected an integer, got 12\.0"),
        (lambda d: d["two_body"]["specific"]["Mo-Mo"].__setitem__("lo", "1.5"),
         r"2-body specific Mo-Mo\.lo: expected a number, got str"),
        (lambda d: d["two_body"]["specific"]["Mo-Mo"].__setitem__("coefficients", ["a", "b"]),
         r"2-body specific Mo-Mo\.coefficients: expected a 1-D array of numbers"),
        (lambda d: d["two_body"]["specific"]["Mo-Mo"].__setitem__("coefficients", [[0.0]]),
         r"2-body specific Mo-Mo\.coefficients: expected a 1-D array of numbers, got 2-D"),
        (lambda d: d["two_body"]["specific"]["Mo-Mo"]["coefficients"].pop(0),
         r"2-body specific Mo-Mo: expected 15 coefficients for 12 intervals, got shape \(14,\)"),
        (lambda d: d["three_body"]["universal"].__setitem__("intervals", [5, 5]),
         r"3-body universal\.intervals: expected a list of 3 numbers"),
        (lambda d: d["three_body"]["universal"].__setitem__("coefficients", [1.0, 2.0]),
         r"3-body universal\.coefficients: expected a 3-D array of numbers, got 1-D"),
        (lambda d: d["scaling"].__setitem__("mode", "species"), r"scaling\.mode must be 'pair' or 'element', got 'species'"),
        (lambda d: d["scaling"]["amplitudes"].__setitem__("W", "big"),
         r"model\.scaling\.amplitudes\.W: expected a number, got str"),
        (lambda d: d["scaling"]["pairs"]["Mo-W"].__setitem__("l", -0.4), r"pair Mo-W needs finite r0 and l > 0"),
        (lambda d: d["two_body"]["specific"]["Mo-Mo"].__setitem__("hi", 1.0),
         r"2-body specific Mo-Mo: knot range \[1\.5, 1\.0\] is empty"),
    ],
)
def test_wrong_type_or_value(saved_v1, tmp_path, edit, message):
    path, d = saved_v1
    d = copy.deepcopy(d)
    edit(d)
    bad = _write(tmp_path, d)
    with pytest.raises(ModelError, match=message) as info:
        sus2c.load(bad)
    assert str(info.value).startswith(str(bad))  # the message names the file


def test_non_finite_numbers(saved_v1, tmp_path):
    _, d = saved_v1
    d = copy.deepcopy(d)
    d["one_body"]["W"] = float("nan")  # json writes NaN, which Python's json reads back
    with pytest.raises(ModelError, match=r"model\.one_body\.W: not finite"):
        sus2c.load(_write(tmp_path, d))
    d = copy.deepcopy(saved_v1[1])
    d["two_body"]["specific"]["Mo-W"]["coefficients"][0] = float("inf")
    with pytest.raises(ModelError, match=r"2-body specific Mo-W: coefficients contain NaN or infinity"):
        sus2c.load(_write(tmp_path, d))


@pytest.mark.parametrize("version, message", [
    (SCHEMA_VERSION + 1, rf"schema version {SCHEMA_VERSION + 1}, newer than this sus2c understands "
                         rf"\({SCHEMA_VERSION}\); upgrade sus2c"),
    (99, r"schema version 99, newer than this sus2c understands"),
    (0, r"unknown model schema version 0"),
    (-1, r"unknown model schema version -1"),
])
def test_schema_version(saved, tmp_path, version, message):
    _, d = saved
    d = copy.deepcopy(d)
    d["version"] = version
    with pytest.raises(ModelError, match=message):
        sus2c.load(_write(tmp_path, d))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["two_body"]["specific"].__setitem__("Mo-Fe", d["two_body"]["specific"]["Mo-W"]),
         r"model\.two_body\.specific: key 'Mo-Fe' names element 'Fe', not in elements \['Mo', 'W'\]"),
        (lambda d: d["three_body"]["specific"].__setitem__("Fe-Mo-W", d["three_body"]["specific"]["Mo-Mo-W"]),
         r"model\.three_body\.specific: key 'Fe-Mo-W' names element 'Fe'"),
        (lambda d: d["scaling"]["pairs"].__setitem__("Ta-W", {"r0": 2.5, "l": 0.4}),
         r"model\.scaling\.pairs: key 'Ta-W' names element 'Ta'"),
        (lambda d: d["scaling"]["amplitudes"].__setitem__("Cu", 1.0),
         r"model\.scaling\.amplitudes names element 'Cu', not in elements"),
        (lambda d: d["one_body"].__setitem__("Cu", -1.0), r"model\.one_body names element 'Cu', not in elements"),
        (lambda d: d["two_body"]["specific"].__setitem__("MoW", d["two_body"]["specific"]["Mo-W"]),
         r"model\.two_body\.specific: key 'MoW' should name 2 elements joined by '-'"),
        (lambda d: d["three_body"]["specific"].__setitem__("Mo-W", d["three_body"]["specific"]["Mo-Mo-W"]),
         r"model\.three_body\.specific: key 'Mo-W' should name 3 elements"),
        (lambda d: d.__setitem__("elements", ["Mo", "W", "Xx"]) or d["one_body"].__setitem__("Xx", 0.0),
         r"'Xx' is not a chemical symbol"),
        (lambda d: d.__setitem__("elements", ["Mo", "W", "Mo"]), r"elements listed twice"),
    ],
)
def test_unknown_element_in_key(saved_v1, tmp_path, edit, message):
    _, d = saved_v1
    d = copy.deepcopy(d)
    edit(d)
    with pytest.raises(ModelError, match=message):
        sus2c.load(_write(tmp_path, d))


@pytest.mark.parametrize(
    "section, a, b",
    [
        (("two_body", "specific"), "Mo-W", "W-Mo"),
        (("three_body", "specific"), "Mo-Mo-W", "Mo-W-Mo"),
        (("scaling", "pairs"), "Mo-W", "W-Mo"),
    ],
)
def test_duplicate_key_in_two_orders_is_rejected(saved_v1, tmp_path, section, a, b):
    _, d = saved_v1
    d = copy.deepcopy(d)
    table = d[section[0]][section[1]]
    other = copy.deepcopy(table[a])
    if section[0] == "scaling":
        other["r0"] += 0.1
    else:
        other["coefficients"] = (np.array(other["coefficients"]) * 2.0).tolist()
    table[b] = other
    with pytest.raises(ModelError, match=re.escape(b)):
        sus2c.load(_write(tmp_path, d))


def test_trailing_trim_violation_in_file(saved_v1, tmp_path):
    _, d = saved_v1
    d = copy.deepcopy(d)
    d["two_body"]["universal"]["coefficients"][-1] = 1e-3
    with pytest.raises(ModelError, match=r"2-body universal u\(x\): the last 3 coefficients must be zero"):
        sus2c.load(_write(tmp_path, d))
    d = copy.deepcopy(saved_v1[1])
    d["three_body"]["specific"]["Mo-Mo-W"]["coefficients"][1][-2][0] = 1e-3
    with pytest.raises(ModelError, match=r"3-body specific Mo-Mo-W: the last 3 coefficients along every leg"):
        sus2c.load(_write(tmp_path, d))


# --------------------------------------------------------------------------- version 1 files, version 2 schema


@pytest.mark.parametrize("kind", ["specific", "universal-pair", "universal-element", "hybrid"])
def test_version1_files_load_and_give_the_same_numbers(kind, tmp_path):
    """Files written before models became lists of terms load, and give that version's numbers."""
    ref = json.loads((DATA / "model-v1-results.json").read_text())[kind]
    model = sus2c.load(DATA / f"model-v1-{kind}.json")
    expected = dict(ref["n_parameters"])
    if expected["scaling"]:  # version 1 counted the 3 gauge-fixed scalars as parameters
        expected["scaling"] -= 3
        expected["total"] -= 3
    counts = model.n_parameters()
    assert {k: counts[k] for k in expected} == expected
    assert all(counts[k] == 0 for k in set(counts) - set(expected))  # blocks that came later
    energy, forces, stress, _ = _results(model, random_structure("bulk", model.elements, seed=2))
    assert energy == pytest.approx(ref["energy"], rel=1e-14, abs=1e-14)
    np.testing.assert_allclose(forces, ref["forces"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(stress, ref["stress"], rtol=0, atol=1e-15)
    # saved again, it is a file of the current version holding the same model
    model.save(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["version"] == SCHEMA_VERSION
    assert sus2c.load(tmp_path / "again.json").to_dict() == model.to_dict()


def _term(d, kind):
    return next(t for t in d["terms"] if t["type"] == kind)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("terms"), r"model: missing field 'terms'"),
        (lambda d: d.__setitem__("terms", {}), r"model\.terms: expected a list, got dict"),
        (lambda d: d["terms"].append({"type": "four_body"}), r"model\.terms\[5\]: unknown term type 'four_body'; known: \["),
        (lambda d: d["terms"].append({"splines": {}}), r"model\.terms\[5\]: missing field 'type'"),
        (lambda d: d["terms"].append(copy.deepcopy(_term(d, "pair_specific"))), r"at most one pair_specific term"),
        (lambda d: _term(d, "pair_specific").pop("splines"), r"\(pair_specific\): missing field 'splines'"),
        (lambda d: _term(d, "pair_universal").pop("u"), r"\(pair_universal\): missing field 'u'"),
        (lambda d: _term(d, "triplet_universal")["g"].pop("hi"), r"3-body universal: missing field 'hi'"),
        (lambda d: _term(d, "pair_specific")["splines"]["Mo-W"].pop("coefficients"),
         r"2-body specific Mo-W: missing field 'coefficients'"),
        (lambda d: _term(d, "pair_specific")["splines"].__setitem__("Mo-Fe", {}),
         r"\(pair_specific\)\.splines: key 'Mo-Fe' names element 'Fe', not in elements \['Mo', 'W'\]"),
        (lambda d: _term(d, "triplet_specific")["splines"]["Mo-Mo-W"]["coefficients"][0].pop(),
         r"3-body specific Mo-Mo-W"),
        (lambda d: _term(d, "one_body")["energies"].pop("W"), r"\(one_body\)\.energies has no energy for \['W'\]"),
        (lambda d: _term(d, "one_body")["energies"].__setitem__("W", "x"), r"energies\.W: expected a number, got str"),
        (lambda d: d.__setitem__("scaling", None), r"universal parts needs a scaling"),
        (lambda d: d["scaling"]["pairs"].pop("Mo-W"), r"scaling: no \(r0, l\) for the pair Mo-W"),
    ],
)
def test_version2_errors_name_the_field(saved, tmp_path, edit, message):
    path, d = saved
    d = copy.deepcopy(d)
    edit(d)
    bad = _write(tmp_path, d)
    with pytest.raises(ModelError, match=message) as info:
        sus2c.load(bad)
    assert str(info.value).startswith(str(bad))


def test_terms_are_summed_in_canonical_order(tmp_path, saved):
    """The order of terms in a file does not change the model (or its numbers)."""
    path, d = saved
    d = copy.deepcopy(d)
    d["terms"] = d["terms"][::-1]
    shuffled = sus2c.load(_write(tmp_path, d))
    assert shuffled.to_dict() == sus2c.load(path).to_dict()


# --------------------------------------------------------------------------- construction errors


def _spline1d(n=8, lo=1.5, hi=5.0, seed=0):
    c = np.random.default_rng(seed).uniform(-0.1, 0.1, n + 3)
    c[-3:] = 0.0
    return Spline1D(lo, hi, n, c)


def _spline3d(n=(4, 4, 6), sym=True, seed=0):
    c = np.random.default_rng(seed).uniform(-0.1, 0.1, tuple(k + 3 for k in n))
    if sym:
        c = 0.5 * (c + c.transpose(1, 0, 2))
    c[-3:, :, :] = 0
    c[:, -3:, :] = 0
    c[:, :, -3:] = 0
    return Spline3D((1.5, 1.5, 1.5), (4.0, 4.0, 8.0), n, c)


def test_valid_construction_baseline():
    m = Model(["Mo", "W"], pair_specific={("W", "Mo"): _spline1d()},
              triplet_specific={("Mo", "W", "W"): _spline3d(), ("W", "Mo", "W"): _spline3d(sym=False)})
    assert m.n_parameters()["two_body_specific"] == 8
    assert np.isfinite(m.pair_energy("Mo", "W", 2.5))


@pytest.mark.parametrize("index", [-1, -2, -3])
def test_nonzero_trailing_coefficient_1d(index):
    s = _spline1d()
    s.coefficients[index] = 0.01
    with pytest.raises(ModelError, match=r"2-body specific Mo-W: the last 3 coefficients must be zero \(trailing trim"):
        Model(["Mo", "W"], pair_specific={("Mo", "W"): s})
    with pytest.raises(ModelError, match=r"2-body universal u\(x\): the last 3 coefficients must be zero"):
        Model(["Mo"], pair_universal=s, scaling=Scaling("pair", {"Mo": 1.0}, pairs={("Mo", "Mo"): (2.5, 0.4)}))
    s.coefficients[index] = 0.0
    s.coefficients[-4] = 0.01  # the fourth-last is free
    Model(["Mo", "W"], pair_specific={("Mo", "W"): s})


@pytest.mark.parametrize("leg", [0, 1, 2])
def test_nonzero_trailing_coefficient_3d(leg):
    s = _spline3d(sym=False)
    idx = [1, 1, 1]
    idx[leg] = -2
    s.coefficients[tuple(idx)] = 0.01
    with pytest.raises(ModelError, match=r"3-body specific Mo-W-Nb: the last 3 coefficients along every leg must be zero"):
        Model(["Mo", "W", "Nb"], triplet_specific={("Mo", "W", "Nb"): s})


def test_asymmetric_like_triplet():
    s = _spline3d(sym=False)
    with pytest.raises(ModelError, match=r"3-body specific W-Mo-Mo: coefficients must be symmetric under swapping legs ij and ik"):
        Model(["Mo", "W"], triplet_specific={("W", "Mo", "Mo"): s})
    # the same coefficients are fine for an unlike triplet
    Model(["Mo", "W"], triplet_specific={("W", "Mo", "W"): s})
    # and the universal g(x) must be symmetric too
    with pytest.raises(ModelError, match=r"3-body universal g\(x\): coefficients must be symmetric"):
        Model(["Mo"], triplet_universal=s, scaling=Scaling("pair", {"Mo": 1.0}, pairs={("Mo", "Mo"): (2.5, 0.4)}))
    # unequal knots on the two like legs
    sym = _spline3d(sym=True)
    sym = Spline3D((1.5, 1.6, 1.5), sym.hi, sym.intervals, sym.coefficients)
    with pytest.raises(ModelError, match=r"legs ij and ik must have the same knots"):
        Model(["Mo"], triplet_specific={("Mo", "Mo", "Mo"): sym})


def test_other_construction_errors():
    with pytest.raises(ModelError, match=r"element 'Fe' is not one of the model's elements"):
        Model(["Mo"], pair_specific={("Mo", "Fe"): _spline1d()})
    with pytest.raises(ModelError, match="at least one element"):
        Model([])
    with pytest.raises(ModelError, match=r"scaling: missing or non-finite amplitude w for W"):
        Model(["Mo", "W"], pair_universal=_spline1d(),
              scaling=Scaling("pair", {"Mo": 1.0}, pairs={("Mo", "Mo"): (2.5, 0.4), ("Mo", "W"): (2.5, 0.4),
                                                           ("W", "W"): (2.5, 0.4)}))
    with pytest.raises(ModelError, match=r"scaling: missing or non-finite radius rho for W"):
        Model(["Mo", "W"], pair_universal=_spline1d(),
              scaling=Scaling("element", {"Mo": 1.0, "W": 1.0}, radii={"Mo": 1.3}, lengths={"Mo": 0.4, "W": 0.4}))
    with pytest.raises(ModelError, match=r"need at least 1 interval"):
        Model(["Mo"], pair_specific={("Mo", "Mo"): Spline1D(1.5, 5.0, 0, np.zeros(3))})
