"""Units and conversion factors: the one place they are defined.

sus2c works in eV and Å; stress in eV/Å³ with ASE's sign (positive in
tension).  Reports give stress in GPa.
"""
EV_PER_A3_TO_GPA = 160.21766208  # 1 eV/Å³ in GPa
EV_PER_A3_IN_BAR = 1.602176634e6  # 1 eV/Å³ in bar (CODATA 2018; LAMMPS metal units use 1.6021765e6)
KJ_PER_MOL_PER_EV = 96.48533212331
R_J_PER_MOL_K = 8.314462618  # gas constant
MEV_PER_EV = 1000.0
