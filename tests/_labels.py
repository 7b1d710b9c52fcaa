"""Reference labels for the exact-retrieval tests (tests/test_retrieval.py).

* :func:`pair_structures`: rattled, strained periodic fcc / bcc / sc / hcp
  cells whose nearest-neighbour distance varies from structure to structure,
  so that together they cover every distance from the short-range wall to the
  cutoff (a single lattice leaves gaps between neighbour shells, where a
  spline is only pinned by the regularisation);
* :func:`label_ase`: energy, forces and stress from an ASE calculator;
* :class:`LammpsSW`: Stillinger-Weber silicon (``pair_style sw`` with the
  original parameters) in the LAMMPS Python module, for labels and for short
  MD runs.  Boxes are set up with sus2c's own LAMMPS helper
  (:func:`sus2c.lammps.lammps_box` + ASE's ``Prism``), as
  :func:`sus2c.lammps.lammps_compute` does for ``pair_style uf3``.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
from ase.build import bulk
from ase.neighborlist import neighbor_list

from sus2c.data import frame_from_atoms

# --------------------------------------------------------------------------- pair-potential data

_NN = {"fcc": 1 / np.sqrt(2), "bcc": np.sqrt(3) / 2, "sc": 1.0}  # nearest neighbour / a
_REP = {"fcc": (2, 2, 2), "bcc": (3, 3, 3), "sc": (3, 3, 3), "hcp": (3, 3, 2)}


def min_distance(atoms, cutoff=6.0):
    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if d.size else np.inf


def pair_structures(n, seed, dnn=(2.45, 2.9), d_floor=2.1, strain=0.04, rattle=(0.04, 0.15), symbol="Ar"):
    """``n`` periodic structures (fcc, bcc, sc, hcp in turn; 27-54 atoms).

    Nearest-neighbour distance uniform in ``dnn``, cell strained by up to
    ``strain`` (random 3x3, so triclinic), atoms rattled by a Gaussian of
    width uniform in ``rattle``; structures with any distance below
    ``d_floor`` are drawn again.
    """
    rng = np.random.default_rng(seed)
    kinds = ("fcc", "bcc", "sc", "hcp")
    out = []
    while len(out) < n:
        kind = kinds[len(out) % len(kinds)]
        d = rng.uniform(*dnn)
        if kind == "hcp":
            atoms = bulk(symbol, "hcp", a=d, c=d * np.sqrt(8 / 3))
        else:
            atoms = bulk(symbol, kind, a=d / _NN[kind], cubic=True)
        atoms = atoms.repeat(_REP[kind])
        F = np.eye(3) + rng.uniform(-strain, strain, (3, 3))
        atoms.set_cell(atoms.cell.array @ F, scale_atoms=True)
        atoms.positions += rng.normal(scale=rng.uniform(*rattle), size=atoms.positions.shape)
        if min_distance(atoms, d_floor) < d_floor:
            continue
        out.append(atoms)
    return out


def label_ase(structures, calc, prefix="s"):
    """Frames labelled by an ASE calculator (energy, forces, stress)."""
    frames = []
    for k, atoms in enumerate(structures):
        a = atoms.copy()
        a.calc = calc
        a.get_potential_energy()
        a.get_forces()
        a.get_stress()
        frames.append(frame_from_atoms(a, source=f"{prefix}:{k}"))
    return frames


# --------------------------------------------------------------------------- Stillinger-Weber silicon

# Stillinger & Weber, Phys. Rev. B 31, 5262 (1985), as in LAMMPS's potentials/Si.sw:
# element1 element2 element3 epsilon sigma a lambda gamma costheta0 A B p q tol
SW_SI = "Si Si Si 2.1683 2.0951 1.80 21.0 1.20 -0.333333333333 7.049556277 0.6022245584 4.0 0.0 0.0\n"
SW_CUTOFF = 1.80 * 2.0951  # a * sigma = 3.77118 A


class LammpsSW:
    """``pair_style sw`` (original Si parameters) in one LAMMPS instance, reused per structure."""

    def __init__(self):
        from sus2c.lammps import import_lammps

        self._lammps = import_lammps()
        self._dir = tempfile.TemporaryDirectory(prefix="sus2c-sw-")
        self.potential = os.path.join(self._dir.name, "Si.sw")
        with open(self.potential, "w") as fh:
            fh.write("# Stillinger-Weber Si (PRB 31, 5262)\n" + SW_SI)
        self.lmp = self._lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])

    def close(self):
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None
        self._dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _setup(self, atoms):
        """Fresh box with ``atoms`` (periodic); returns the ASE Prism."""
        from ase.calculators.lammps import Prism

        from sus2c.lammps import fmt_float, lammps_box

        cell, pos, pbc = lammps_box(atoms, pad=2.0)
        prism = Prism(cell, pbc=pbc, reduce_cell=True)
        xlmp = prism.vector_to_lammps(pos, wrap=True)
        lx, ly, lz, xy, xz, yz = prism.get_lammps_prism()
        n = len(atoms)
        lmp = self.lmp
        lmp.command("clear")
        lmp.commands_list(
            [
                "units metal",
                "atom_style atomic",
                "atom_modify map array sort 0 0",
                f"boundary {' '.join('p' if q else 'f' for q in pbc)}",
                f"region box prism 0 {fmt_float(lx)} 0 {fmt_float(ly)} 0 {fmt_float(lz)} {fmt_float(xy)} {fmt_float(xz)} {fmt_float(yz)} units box",
                "create_box 1 box",
                "mass 1 28.0855",
            ]
        )
        created = lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, np.ascontiguousarray(xlmp).ravel().tolist())
        assert created == n, f"LAMMPS accepted {created} of {n} atoms"
        lmp.commands_list(
            [
                "pair_style sw",
                f"pair_coeff * * {self.potential} Si",
                "neighbor 1.0 bin",
                "compute vir all pressure NULL virial",  # no kinetic part: the potential's stress only
                "thermo_style custom step pe c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]",
                "thermo_modify norm no",
            ]
        )
        return prism

    def _state(self, prism, n):
        """Energy, forces and stress (ASE frame and sign) of the current LAMMPS state."""
        lmp = self.lmp
        e = float(lmp.get_thermo("pe"))
        ids = np.array(lmp.numpy.extract_atom("id"), dtype=np.int64)[:n]
        order = np.argsort(ids)
        f = np.array(lmp.numpy.extract_atom("f"), dtype=float)[:n][order]
        x = np.array(lmp.numpy.extract_atom("x"), dtype=float)[:n][order]
        v = [float(lmp.extract_compute("vir", 0, 1)[k]) for k in range(6)]  # xx yy zz xy xz yz, bar
        nktv2p = float(lmp.extract_global("nktv2p"))
        P = np.array([[v[0], v[3], v[4]], [v[3], v[1], v[5]], [v[4], v[5], v[2]]])
        R = prism.rot_mat
        s = -(R @ P @ R.T) / nktv2p
        return {
            "energy": e,
            "forces": f @ R.T,
            "positions": prism.vector_to_ase(x, wrap=True),
            "stress": np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]),
        }

    def compute(self, atoms):
        prism = self._setup(atoms)
        self.lmp.command("run 0")
        return self._state(prism, len(atoms))

    def md_snapshots(self, atoms, temperature, n_snapshots, every=100, equilibrate=300, seed=1):
        """Positions along an NVE run started at 2 x ``temperature`` (equipartition
        brings it to ~``temperature``), 1 fs steps; a copy of ``atoms`` per snapshot."""
        prism = self._setup(atoms)
        lmp = self.lmp
        lmp.commands_list(
            [
                f"velocity all create {2.0 * temperature} {int(seed)} mom yes rot no dist gaussian",
                "timestep 0.001",
                "fix nve all nve",
                f"run {int(equilibrate)}",
            ]
        )
        out = []
        for _ in range(n_snapshots):
            lmp.command(f"run {int(every)}")
            st = self._state(prism, len(atoms))
            snap = atoms.copy()
            snap.positions = st["positions"]
            snap.wrap()
            out.append(snap)
        return out

    def frames(self, structures, prefix="sw"):
        frames = []
        for k, atoms in enumerate(structures):
            r = self.compute(atoms)
            a = atoms.copy()
            a.info["energy"] = r["energy"]
            a.arrays["forces"] = r["forces"]
            a.info["stress"] = r["stress"]
            frames.append(frame_from_atoms(a, source=f"{prefix}:{k}"))
        return frames


def diamond_si(rng, a=5.431, strain=0.0, rattle=(0.05, 0.15), d_floor=0.0):
    """64-atom diamond Si (2x2x2 conventional), strained by up to ``strain``, rattled by a
    Gaussian of width uniform in ``rattle``; drawn again while a distance is below ``d_floor``."""
    while True:
        atoms = bulk("Si", "diamond", a=a, cubic=True).repeat((2, 2, 2))
        if strain:
            F = np.eye(3) + rng.uniform(-strain, strain, (3, 3))
            atoms.set_cell(atoms.cell.array @ F, scale_atoms=True)
        atoms.positions += rng.normal(scale=rng.uniform(*rattle), size=atoms.positions.shape)
        if min_distance(atoms, 3.0) >= d_floor:
            return atoms
