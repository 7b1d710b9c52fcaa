"""Rattled bcc structures of any elements: for export checks, tests and benchmarks."""
from __future__ import annotations

import numpy as np


def random_structure(kind="bulk", elements=("Mo",), seed=0, n_rep=2, a=3.16, rattle=0.1):
    """A rattled bcc structure: 'bulk' (triclinic-sheared periodic), 'small'
    (cell edge shorter than the cutoff), 'slab' (periodic in x, y), 'cluster'."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    if kind == "small":
        atoms = bulk("Mo", "bcc", a=a, cubic=False)  # primitive cell: edges 2.74 A
        atoms = atoms.repeat((1, 1, 2))
    else:
        atoms = bulk("Mo", "bcc", a=a, cubic=True).repeat((n_rep, n_rep, n_rep))
    cell = atoms.cell.array.copy()
    if kind in ("bulk", "small"):
        cell = cell @ (np.eye(3) + rng.uniform(-0.06, 0.06, (3, 3)))
        atoms.set_cell(cell, scale_atoms=True)
    if kind == "slab":
        atoms.pbc = (True, True, False)
        atoms.center(vacuum=4.0, axis=2)
    if kind == "cluster":
        atoms.pbc = False
        atoms.set_cell(np.zeros((3, 3)))
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.set_chemical_symbols(rng.choice(list(elements), size=len(atoms)))
    return atoms
