"""The only importer of compiled code (DESIGN.md, principle 3).

Every public function here checks dtype, shape and contiguity of its inputs, allocates its
outputs and calls one pure kernel from ``cext/``. Each has an independent NumPy twin of the same
name in :mod:`mscabm._reference`. Sections below belong to one kernel module each.
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------- rng (cext/rng.pyx)
# (section: counter-based random stream)

# ------------------------------------------------------------------------ rules (cext/rules.pyx)
# (section: Hill-rule evaluation)

# -------------------------------------------------------------------- lattice (cext/lattice.pyx)
# (section: column stacks, rasterisation, moves with exclusion, neighbour counts)

# ---------------------------------------------------------------------- fields (cext/fields.pyx)
# (section: diffusion-decay operator and tridiagonal solves)
