"""Counter-based random numbers: every draw is a pure function of its key (DESIGN.md, 7).

A draw is identified by the key ``(seed, step, purpose, kind, entity_id, draw)``:

=========== ======= ===========================================================================
field       type    meaning
=========== ======= ===========================================================================
seed        uint64  the run seed
step        int64   simulation step (reinterpreted as uint64, two's complement)
purpose     uint32  what the number is for (:class:`Purpose`)
kind        uint32  what kind of entity ``entity_id`` names (:class:`EntityKind`)
entity_id   uint64  cell id, raveled voxel index, column index, or 0 for global draws
draw        uint32  index of the draw when one entity needs several numbers for one purpose
=========== ======= ===========================================================================

The key is hashed with the SplitMix64 finaliser ``mix`` (all arithmetic modulo 2**64)::

    def mix(z):
        z = z + 0x9E3779B97F4A7C15
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB
        return z ^ (z >> 31)

    k = mix(seed)
    k = mix(k ^ step)
    k = mix(k ^ ((purpose << 32) | kind))
    k = mix(k ^ entity_id)
    k = mix(k ^ draw)

and the 64-bit key ``k`` becomes a uniform double in [0, 1) as ``(k >> 11) * 2**-53`` (the top
53 bits; exact, so every value is a multiple of 2**-53 and 1.0 never occurs).

Derived distributions (all computed from those uniforms with NumPy):

* normal (Box–Muller, cosine branch): with ``u1`` = draw ``2*draw`` and ``u2`` = draw
  ``2*draw + 1``, ``z = sqrt(-2 * log(1 - u1)) * cos(2 * pi * u2)``;
* exponential with mean ``m``: ``-m * log1p(-u)`` with ``u`` = draw ``draw``;
* lognormal with mean ``m`` and coefficient of variation ``cv``: ``sigma**2 = log(1 + cv**2)``,
  ``mu = log(m) - sigma**2 / 2``, ``exp(mu + sigma * z)`` with ``z`` the normal above (exactly
  ``m`` when ``cv == 0``);
* priority: the key ``k`` of draw 0 itself; permutation: entities sorted by priority, ties
  broken by id, then by position (stable).

There is no hidden state: a :class:`RandomStream` holds only its seed, so the same key gives the
same number whatever the thread count, the order of calls or the resume point. Different
purposes, kinds, ids, steps or draw indices give independent streams. Values of
:class:`Purpose` and :class:`EntityKind` are part of the mapping and are never reused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mscabm import _kernels

__all__ = ["EntityKind", "Purpose", "RandomStream"]


class Purpose(enum.IntEnum):
    """What a random number is for (the ``purpose`` field of the key)."""

    # More members are added as processes need them; a value is never reused or renumbered.
    CELL_CYCLE = 1
    DIVISION_PLACEMENT = 2
    DIFFERENTIATION = 3
    FATE = 4
    MOVE_ORDER = 5
    MOVE_DIRECTION = 6
    INITIAL_STATE = 7
    SHEDDING = 8
    SECRETION_NOISE = 9
    PARAKERATOSIS = 10
    BASAL_MIGRATION = 11
    COLUMN_LEVELLING = 12
    IMMUNE_FATE = 13
    RECRUITMENT = 14
    IMMUNE_PLACEMENT = 15
    EFFEROCYTOSIS = 16
    NET_CLEARANCE = 17
    IMMUNE_SEEDING = 18
    IMMUNE_HOPS = 19


class EntityKind(enum.IntEnum):
    """What kind of entity the ``entity_id`` field of the key names."""

    CELL = 1  # cell id (uint64, never reused)
    VOXEL = 2  # raveled voxel index on the unpadded grid
    COLUMN = 3  # lateral column index
    GLOBAL = 4  # one draw for the whole tissue (entity id 0 by convention)


def _as_ids(ids: ArrayLike) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return ids raveled as a contiguous uint64 array, and their original shape."""
    array = np.asarray(ids)
    if array.dtype == np.uint64:
        flat = array.reshape(-1)
    elif np.issubdtype(array.dtype, np.integer) or (array.size == 0 and array.dtype == float):
        flat = array.reshape(-1)
        if flat.size and flat.min() < 0:
            raise ValueError("entity ids must be non-negative integers")
        flat = flat.astype(np.uint64)
    elif array.dtype == object and all(isinstance(v, int) for v in array.reshape(-1)):
        values = [int(v) for v in array.reshape(-1)]
        if any(v < 0 or v >= 1 << 64 for v in values):
            raise ValueError("entity ids must be integers in [0, 2**64)")
        flat = np.array(values, dtype=np.uint64)
    else:
        raise ValueError(f"entity ids must be integers, got dtype {array.dtype}")
    return np.ascontiguousarray(flat), array.shape


@dataclass(frozen=True)
class RandomStream:
    """The random numbers of one run: a pure function of (seed, key), no hidden state.

    Parameters
    ----------
    seed : int or numpy.uint64
        Run seed in [0, 2**64). Anything else (negative, too large, float, bool, str, signed
        numpy integers) raises ValueError.

    Notes
    -----
    Every method takes ``step``, ``purpose`` (:class:`Purpose`), ``kind``
    (:class:`EntityKind`) and ``ids`` (integer array-like of entity ids, any shape). Results
    have the shape of ``ids`` (plus a trailing axis for :meth:`uniforms`). The exact mapping
    from key to number is documented in :mod:`mscabm.random`.
    """

    seed: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", _kernels._check_seed(self.seed))

    def uniform(
        self, step: int, purpose: int, kind: int, ids: ArrayLike, draw: int = 0
    ) -> np.ndarray:
        """Return uniforms in [0, 1), one per id.

        Parameters
        ----------
        step : int
            Simulation step.
        purpose : Purpose or int
            What the numbers are for.
        kind : EntityKind or int
            What the ids name.
        ids : array_like of int
            Entity ids (non-negative).
        draw : int, optional
            Draw index.

        Returns
        -------
        numpy.ndarray of float64
            Shape of ``ids``.
        """
        flat, shape = _as_ids(ids)
        return _kernels.uniform(self.seed, step, purpose, kind, flat, draw).reshape(shape)

    def uniforms(
        self, step: int, purpose: int, kind: int, ids: ArrayLike, n_draws: int
    ) -> np.ndarray:
        """Return ``n_draws`` uniforms per id: column j is draw index j.

        Parameters
        ----------
        step, purpose, kind, ids
            As in :meth:`uniform`.
        n_draws : int
            Number of draws per id.

        Returns
        -------
        numpy.ndarray of float64
            Shape ``ids.shape + (n_draws,)``.
        """
        flat, shape = _as_ids(ids)
        values = _kernels.uniform_matrix(self.seed, step, purpose, kind, flat, n_draws)
        return values.reshape((*shape, n_draws))

    def normal(
        self, step: int, purpose: int, kind: int, ids: ArrayLike, draw: int = 0
    ) -> np.ndarray:
        """Return standard normal deviates (Box–Muller from draws 2·draw and 2·draw + 1).

        Parameters
        ----------
        step, purpose, kind, ids
            As in :meth:`uniform`.
        draw : int, optional
            Index of the normal; it uses uniform draws ``2*draw`` and ``2*draw + 1``.

        Returns
        -------
        numpy.ndarray of float64
            ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)``, shape of ``ids``.
        """
        flat, shape = _as_ids(ids)
        draw = _kernels._check_int("draw", draw, 0, 1 << 31)
        pair = _kernels.uniform_matrix(self.seed, step, purpose, kind, flat, 2, 2 * draw)
        radius = np.sqrt(-2.0 * np.log1p(-pair[:, 0]))
        return (radius * np.cos(2.0 * np.pi * pair[:, 1])).reshape(shape)

    def exponential(
        self,
        step: int,
        purpose: int,
        kind: int,
        ids: ArrayLike,
        mean: ArrayLike = 1.0,
        draw: int = 0,
    ) -> np.ndarray:
        """Return exponential deviates with the given mean, ``-mean * log1p(-u)``.

        Parameters
        ----------
        step, purpose, kind, ids, draw
            As in :meth:`uniform`.
        mean : float or array_like, optional
            Mean (1 / rate), broadcast against ``ids``; must be >= 0.

        Returns
        -------
        numpy.ndarray of float64
            Shape of ``ids`` broadcast with ``mean``.
        """
        mean = np.asarray(mean, dtype=np.float64)
        if np.any(mean < 0) or np.isnan(mean).any():
            raise ValueError("mean must be >= 0")
        return -mean * np.log1p(-self.uniform(step, purpose, kind, ids, draw))

    def lognormal(
        self,
        step: int,
        purpose: int,
        kind: int,
        ids: ArrayLike,
        mean: ArrayLike,
        cv: ArrayLike,
        draw: int = 0,
    ) -> np.ndarray:
        """Return lognormal deviates with the given mean and coefficient of variation.

        Parameters
        ----------
        step, purpose, kind, ids
            As in :meth:`uniform`.
        mean : float or array_like
            Mean of the distribution (> 0), broadcast against ``ids``.
        cv : float or array_like
            Coefficient of variation, standard deviation / mean (>= 0).
        draw : int, optional
            Index of the underlying normal (see :meth:`normal`).

        Returns
        -------
        numpy.ndarray of float64
            ``exp(mu + sigma z)`` with ``sigma**2 = log(1 + cv**2)`` and
            ``mu = log(mean) - sigma**2 / 2``; exactly ``mean`` where ``cv == 0``.
        """
        mean = np.asarray(mean, dtype=np.float64)
        cv = np.asarray(cv, dtype=np.float64)
        if not np.all(mean > 0):
            raise ValueError("lognormal mean must be > 0")
        if not np.all(cv >= 0):
            raise ValueError("lognormal cv must be >= 0")
        variance_log = np.log1p(cv * cv)
        z = self.normal(step, purpose, kind, ids, draw)
        values = np.exp(np.log(mean) - 0.5 * variance_log + np.sqrt(variance_log) * z)
        return np.where(cv == 0, mean, values)

    def priority(self, step: int, purpose: int, kind: int, ids: ArrayLike) -> np.ndarray:
        """Return a uint64 priority per id (the key of draw 0).

        Parameters
        ----------
        step, purpose, kind, ids
            As in :meth:`uniform`.

        Returns
        -------
        numpy.ndarray of uint64
            Shape of ``ids``.
        """
        flat, shape = _as_ids(ids)
        return _kernels.hash_keys(self.seed, step, purpose, kind, flat, 0).reshape(shape)

    def permutation(self, step: int, purpose: int, kind: int, ids: ArrayLike) -> np.ndarray:
        """Return the order that sorts ids by priority (ties by id, then by position).

        Parameters
        ----------
        step, purpose, kind, ids
            As in :meth:`uniform`; ``ids`` is one-dimensional.

        Returns
        -------
        numpy.ndarray of int64
            Positions into ``ids``: ``ids[order]`` is the processing order of this step.
        """
        flat, shape = _as_ids(ids)
        if len(shape) != 1:
            raise ValueError(f"permutation needs one-dimensional ids, got shape {shape}")
        keys = _kernels.hash_keys(self.seed, step, purpose, kind, flat, 0)
        return _kernels._order_by_keys(keys, flat).astype(np.int64)
