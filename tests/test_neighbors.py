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
