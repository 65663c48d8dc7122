"""Papillary capillaries: dilation (relative perfusion) follows the ``dilation`` behaviour.

Each capillary site relaxes toward its rule-set target with time constant
``capillary.dilation_time_h``: ``d ← d + (target − d)·(1 − exp(−dt/τ))``. Perfusion (the mean
dilation) drives the erythema readout now and immune-cell entry later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from mscabm.engine import Simulation


def dilate(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> None:
    """Relax each capillary's dilation toward its target.

    Parameters
    ----------
    sim
        The simulation.
    rows
        Living capillary rows, in the order of ``behaviour``.
    behaviour
        Behaviour matrix of those rows.
    """
    capillaries = sim.state.capillaries
    target = behaviour[:, sim.rules.behaviour_index("dilation")]
    relax = -np.expm1(-(sim.dt_min / 60.0) / sim.spec.capillary.dilation_time_h)
    capillaries.dilation[rows] += (target - capillaries.dilation[rows]) * relax
