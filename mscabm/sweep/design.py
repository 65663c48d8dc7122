"""Design samplers: a sweep's parameters → design points (parameter values by path).

``grid`` (Cartesian product, last parameter fastest) and ``values`` (explicit lists zipped into
points) use the listed values. ``random``, ``latin`` (Latin hypercube), ``morris`` (SALib's
Morris trajectories) and ``sobol`` (SALib's Saltelli/Sobol' sampler, ``n`` a power of two) draw in
the unit cube with the design's own ``seed`` and map each coordinate to ``[low, high]`` (log10
spaced when ``log: true``). The order of the points is that of the sampler, so SALib's analysis
functions can read the metrics back in the same order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from mscabm.sweep.spec import SweepSpec

__all__ = ["design_points", "unit_design"]


def unit_design(spec: SweepSpec) -> np.ndarray:
    """The design in the unit cube, one row per design point (sampled designs only).

    Parameters
    ----------
    spec
        The sweep.

    Returns
    -------
    numpy.ndarray
        ``(points, parameters)`` coordinates in [0, 1].
    """
    k = len(spec.parameters)
    n = int(spec.design.get("n", 0))
    seed = int(spec.design.get("seed", 0))
    if spec.sampler == "random":
        return np.random.default_rng(seed).random((n, k))
    if spec.sampler == "latin":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=k, seed=np.random.default_rng(seed)).random(n)
    problem = spec.problem()
    if spec.sampler == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=int(spec.design.get("levels", 4)), seed=seed)
    if spec.sampler == "sobol":
        from SALib.sample import sobol

        return sobol.sample(
            problem,
            n,
            calc_second_order=bool(spec.design.get("calc_second_order", False)),
            scramble=bool(spec.design.get("scramble", True)),
            seed=seed,
        )
    raise ValueError(f"sampler {spec.sampler!r} has no unit-cube design")


def design_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The design points of a sweep, in order.

    Parameters
    ----------
    spec
        The sweep.

    Returns
    -------
    list of dict
        Parameter path → value, one mapping per design point.
    """
    from mscabm.sweep.spec import iter_grid

    if spec.sampler == "grid":
        return iter_grid(spec.parameters)
    if spec.sampler == "values":
        count = len(spec.parameters[0].values or ())
        return [{p.path: (p.values or ())[i] for p in spec.parameters} for i in range(count)]
    unit = unit_design(spec)
    return [
        {p.path: p.from_unit(float(u)) for p, u in zip(spec.parameters, point, strict=True)}
        for point in unit
    ]
