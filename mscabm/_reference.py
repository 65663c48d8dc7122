"""Independent NumPy twins of the compiled kernels (DESIGN.md, principle 3).

Each function has the name and signature of its counterpart in :mod:`mscabm._kernels` but is
written with its own loop structure in vectorised NumPy; it never calls compiled code. Tests
compare the two: integer, lattice and random-number kernels exactly, floating-point kernels to a
norm-wise relative 1e-12.
"""

from __future__ import annotations

import numpy as np

# ------------------------------------------------------------------------------------------ rng

# ---------------------------------------------------------------------------------------- rules

# -------------------------------------------------------------------------------------- lattice

# --------------------------------------------------------------------------------------- fields
