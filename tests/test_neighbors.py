"""The compiled neighbour list against ASE's, entry by entry.

Geometries that exercise every path of sus2c.neighbors: a rattled bulk
cell, a small triclinic cell (an atom sees several images of the same
neighbour), a hexagonal slab periodic in two directions whose periodic rows
are not orthogonal, an isolated cluster, a lopsided cluster (its list
outgrows the first buffer guess) and a cell much smaller than the cutoff;
bulk and lopsided systems of 600+ atoms, which the list builds on two
threads.  Full and half lists, one and two threads.
"""
from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.neighborlist import neighbor_list as ase_neighbor_list

from sus2c.neighbors import NeighborList, neighbor_list


def _geometries():
    rng = np.random.default_rng(0)
    mo = bulk("Mo", "bcc", 3.16, cubic=True).repeat((4, 3, 5))
    mo.rattle(0.1, seed=1)
    tri = bulk("Cu", "fcc", 3.6).repeat((2, 2, 2))
    tri.cell[1] += [0.7, 0.0, 0.0]
    tri.positions += rng.normal(0.0, 0.1, tri.positions.shape)
    slab = fcc111("Cu", (3, 3, 4), vacuum=6.0)  # pbc (True, True, False), 60° cell
    slab.rattle(0.05, seed=2)
    cluster = bulk("Cu", "fcc", 3.6).repeat((3, 3, 3))
    cluster.pbc = False
    cluster.center(vacuum=3.0)
    tiny = bulk("Si", "diamond", 5.43)
    # a dense clump and one far atom: the mean density underestimates the
    # clump's neighbour counts, so list buffers must grow during the search
    lopsided = cluster.copy()
    lopsided.append("Cu")
    lopsided.positions[-1] = lopsided.positions[0] + [40.0, 0.0, 0.0]
    # big enough for the list to be built on two threads (>= 256 atoms a thread)
    big = bulk("Mo", "bcc", 3.16, cubic=True).repeat((8, 8, 5))
    big.rattle(0.1, seed=3)
    big_lopsided = bulk("Cu", "fcc", 3.6, cubic=True).repeat((5, 5, 6))
    big_lopsided.pbc = False
    big_lopsided.append("Cu")
    big_lopsided.positions[-1] = big_lopsided.positions[0] + [60.0, 0.0, 0.0]
    return {"bulk": mo, "triclinic": tri, "hex-slab": slab, "cluster": cluster, "tiny": tiny,
            "lopsided": lopsided, "bulk-640": big, "lopsided-601": big_lopsided}


GEOMETRIES = _geometries()


def _entries(atoms, off, idx, sh):
    centre = np.repeat(np.arange(len(atoms)), np.diff(off))
    vec = atoms.positions[idx] + sh - atoms.positions[centre]
    return centre, idx, vec


def _key(i, j, vec):
    return sorted(zip(i.tolist(), j.tolist(), *(np.round(vec, 6) + 0.0).T.tolist()))


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("cutoff", [2.6, 6.5])
@pytest.mark.parametrize("threads", [1, 2])
def test_full_and_half_lists_match_ase(name, cutoff, threads):
    atoms = GEOMETRIES[name]
    i, j, vec = ase_neighbor_list("ijD", atoms, cutoff)
    assert len(i) > 0
    reference = _key(i, j, vec)

    full = _entries(atoms, *neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff, threads))
    assert _key(*full) == reference

    ci, cj, cvec = _entries(atoms, *neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff,
                                                  threads, half=True))
    assert 2 * len(ci) == len(i)
    # every bond once, from the smaller index: both directions give the full list back
    assert np.all(ci <= cj)
    both = (np.concatenate([ci, cj]), np.concatenate([cj, ci]), np.concatenate([cvec, -cvec]))
    assert _key(*both) == reference


def test_reused_buffers_give_the_same_list():
    """A skin list rebuilds into the arrays of its previous build; results must not change."""
    work = {}
    for name in ("bulk", "lopsided", "tiny", "bulk"):
        atoms = GEOMETRIES[name]
        fresh = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 5.0, 2)
        reused = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 5.0, 2, work=work)
        for a, b in zip(fresh, reused):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["bulk-640", "lopsided-601"])
@pytest.mark.parametrize("half", [False, True])
def test_list_does_not_depend_on_thread_count(name, half):
    atoms = GEOMETRIES[name]
    assert len(atoms) >= 512  # two threads do run (neighbors.py: one per 256 atoms)
    one = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 6.5, 1, half)
    two = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 6.5, 2, half)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_positions_are_an_error(bad):
    atoms = GEOMETRIES["cluster"]
    pos = atoms.positions.copy()
    pos[0] = [bad, 0.0, bad]
    with pytest.raises(ValueError, match="NaN or infinity"):
        neighbor_list(pos, atoms.cell.array, atoms.pbc, 4.0)


def test_skin_list_is_reused_then_rebuilt():
    atoms = GEOMETRIES["bulk"].copy()
    nl = NeighborList(5.0, skin=0.4)
    nl.update(atoms.positions, atoms.cell.array, atoms.pbc)
    atoms.positions[3] += [0.15, 0.0, 0.0]  # less than skin / 2: reused
    nl.update(atoms.positions, atoms.cell.array, atoms.pbc)
    assert nl.nbuilds == 1
    atoms.positions[3] += [0.1, 0.0, 0.0]  # 0.25 Å from the build positions: stale
    nl.update(atoms.positions, atoms.cell.array, atoms.pbc)
    assert nl.nbuilds == 2


def test_same_data_compares_dtype_shape_and_bytes():
    """The calculator's change test: equal only with the same dtype, shape and bytes."""
    from sus2c._kernels._neighbors import same_data

    a = np.arange(6, dtype=np.int64)
    assert same_data(a, a.copy())
    assert not same_data(a, a.astype(np.int32))
    assert not same_data(a, a.view(np.float64))  # same bytes, another dtype
    assert not same_data(a.reshape(2, 3), a.reshape(3, 2).copy())  # same bytes, another shape
    assert not same_data(a, a[:5].copy())
    b = a.copy()
    b[5] += 1
    assert not same_data(a, b)
    m = np.arange(12.0).reshape(3, 4)
    assert same_data(m[:, ::2], np.ascontiguousarray(m[:, ::2]))  # strided: compared as a copy
    assert not same_data(m[:, ::2], np.ascontiguousarray(m[:, 1::2]))
    assert same_data(np.zeros((0, 3)), np.zeros((0, 3)))
    x = np.array([1.0, 2.0])
    assert not same_data(x, x.view(x.dtype.newbyteorder()))  # same bytes, other values
    with pytest.raises(TypeError):
        same_data(None, x)


# --------------------------------------------------------------------------- cells too thin for the cutoff

_NEAR_SINGULAR = """
import resource, sys
import numpy as np
# a search sized by the cell would ask for tens of GiB: fail fast instead of swapping
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from ase import Atoms
from sus2c.calculator import Calculator
from sus2c.data import Frame
from sus2c.distances import pair_statistics
from sus2c.neighbors import CellError, neighbor_list
from sus2c.testing import random_model

calc = Calculator(random_model(elements=("Mo",), seed=1), threads=1)
for eps in sys.argv[1:]:
    cell = [[3.16, 0, 0], [3.16, float(eps), 0], [0, 0, 3.16]]
    try:
        neighbor_list(np.zeros((1, 3)), cell, [True] * 3, 5.0)
    except CellError as exc:
        print(eps, "LIST", exc)
    atoms = Atoms("Mo", positions=[[0, 0, 0]], cell=cell, pbc=True)
    atoms.calc = calc
    try:
        atoms.get_potential_energy()
    except CellError as exc:
        print(eps, "CALC", exc)
    try:
        pair_statistics([Frame(atoms, 0.0, None, None, 1.0, "g", "train.xyz:7")], ["Mo"], 5.0)
    except CellError as exc:
        print(eps, "FIT", exc)
"""

CELL_CASES = {1e-8: "nearly singular", 1e-3: "too thin for the cutoff"}


@pytest.fixture(scope="module")
def near_singular_messages(tmp_path_factory):
    """{eps: {where: message}} from a child process with a 3 GiB address-space limit
    (so the old behaviour fails the test instead of exhausting the machine)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _NEAR_SINGULAR, *map(repr, CELL_CASES)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path_factory.mktemp("child"))
    assert run.returncode == 0, run.stderr[-2000:]
    out = {}
    for line in run.stdout.splitlines():
        eps, where, msg = line.split(" ", 2)
        out.setdefault(float(eps), {})[where] = msg
    return out


@pytest.mark.parametrize("eps", sorted(CELL_CASES))
def test_nearly_singular_cell_is_a_named_error_before_any_allocation(near_singular_messages, eps):
    """Issue 14.4: was 'negative dimensions are not allowed' (1e-8) and a 31 GiB MemoryError (1e-3)."""
    kind = CELL_CASES[eps]
    lines = near_singular_messages.get(eps, {})
    assert set(lines) == {"LIST", "CALC", "FIT"}, near_singular_messages
    for where, msg in lines.items():
        assert kind in msg
        # the thinnest periodic width against the cutoff, and the images that would take
        assert f"thinnest periodic width is {eps:.3g} Å" in msg
        assert "cutoff 5 Å" in msg or where == "CALC"
        assert "images of every atom" in msg
        assert "Check the cell" in msg
    assert lines["FIT"].startswith("train.xyz:7: ")  # the fit says which structure
    if eps == 1e-3:
        # 2 ceil(5 / 1e-3) + 1 translations along a and b, 5 along c
        assert "5e+08 points" in lines["LIST"]


def test_image_limit_spares_wide_cells_of_any_size():
    from sus2c.neighbors import MAX_IMAGE_POINTS, CellError, check_image_count

    wide = np.full(3, 10.0)
    # a million atoms in a cell wider than the cutoff: 27 translations each, never refused
    check_image_count(10**6, (1, 1, 1), wide, 5.0, [True] * 3, np.eye(3) * 100)
    # a thin cell just inside and just past the limit
    n = MAX_IMAGE_POINTS // (3 * 3 * 201)
    check_image_count(n, (1, 1, 100), np.array([10.0, 10.0, 0.05]), 5.0, [True] * 3, np.eye(3))
    with pytest.raises(CellError, match="0.05 Å .direction c. against the cutoff 5 Å"):
        check_image_count(n + 1, (1, 1, 100), np.array([10.0, 10.0, 0.05]), 5.0, [True] * 3, np.eye(3))


def test_thin_but_reasonable_cell_still_matches_ase():
    atoms = bulk("Cu", "fcc", 3.6)
    atoms.cell[1] = atoms.cell[0] + [0.0, 0.0, 0.5]  # widths below the cutoff, far from the limit
    i, j, vec = ase_neighbor_list("ijD", atoms, 3.0)
    assert len(i) > 50
    full = _entries(atoms, *neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 3.0))
    assert _key(*full) == _key(i, j, vec)
