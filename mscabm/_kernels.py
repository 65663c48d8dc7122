"""The only importer of compiled code (DESIGN.md, principle 3).

Every public function here checks dtype, shape and contiguity of its inputs, allocates its
outputs and calls one pure kernel from ``cext/``. Each has an independent NumPy twin of the same
name in :mod:`mscabm._reference`. Sections below belong to one kernel module each.
"""

from __future__ import annotations

import os

import numpy as np

# ----------------------------------------------------------------------------- rng (cext/rng.pyx)
# (section: counter-based random stream; its array/integer checks serve the sections below too)
from mscabm import _rng as _rng_ext

_UINT32_END = 1 << 32
_UINT64_END = 1 << 64
_INT64_MIN = -(1 << 63)
_INT64_END = 1 << 63


def _check_array(
    name: str,
    array: object,
    dtype: type | np.dtype,
    shape: tuple[int | None, ...],
    *,
    writeable: bool = False,
) -> np.ndarray:
    """Return ``array`` if it is a C-contiguous ndarray of ``dtype`` and ``shape``.

    ``None`` in ``shape`` accepts any length on that axis. Raises ValueError otherwise.
    """
    # the common case first, with as few attribute reads as possible (~80 calls per step)
    if (
        type(array) is np.ndarray
        and array.dtype == dtype
        and array.ndim == len(shape)
        and array.flags.c_contiguous
        and (not writeable or array.flags.writeable)
    ):
        for size, got in zip(shape, array.shape, strict=True):
            if size is not None and size != got:
                break
        else:
            return array
    want = np.dtype(dtype)
    if not isinstance(array, np.ndarray):
        raise ValueError(
            f"{name} must be a numpy array of dtype {want.name}, got {type(array).__name__}"
        )
    if array.dtype != want:
        raise ValueError(f"{name} must have dtype {want.name}, got {array.dtype.name}")
    if array.ndim != len(shape) or any(
        size is not None and size != got for size, got in zip(shape, array.shape, strict=False)
    ):
        expected = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if writeable and not array.flags.writeable:
        raise ValueError(f"{name} is updated in place and must be writeable")
    return array


def _order_by_keys(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions that sort by ``keys``, ties by ``ids``, then by position (hash orders).

    An argsort of the keys (a seventh of the lexsort's time at 2,800 uint64 keys); the
    lexsort only when a key repeats, where the order of the ties matters.
    """
    order = np.argsort(keys)
    ranked = keys[order]
    if np.any(ranked[1:] == ranked[:-1]):
        order = np.lexsort((ids, keys))
    return order


def _check_int(name: str, value: object, low: int, end: int) -> int:
    """Return ``value`` as a Python int if it is an integer in ``[low, end)``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if not low <= value < end:
        raise ValueError(f"{name} must be in [{low}, {end}), got {value}")
    return value


def _check_seed(seed: object) -> int:
    """Return ``seed`` as a Python int: only ints in [0, 2**64) and numpy.uint64 are seeds."""
    if isinstance(seed, np.uint64):
        return int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(
            "seed must be a Python int in [0, 2**64) or a numpy.uint64, "
            f"got {seed!r} ({type(seed).__name__})"
        )
    if not 0 <= seed < _UINT64_END:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return int(seed)


def _check_key_scalars(
    seed: object, step: object, purpose: object, kind: object
) -> tuple[int, int, int, int]:
    return (
        _check_seed(seed),
        _check_int("step", step, _INT64_MIN, _INT64_END),
        _check_int("purpose", purpose, 0, _UINT32_END),
        _check_int("kind", kind, 0, _UINT32_END),
    )


def hash_keys(
    seed: int | np.uint64,
    step: int,
    purpose: int,
    kind: int,
    entity_ids: np.ndarray,
    draw: int = 0,
) -> np.ndarray:
    """Return the 64-bit counter-based key of every entity for one draw index.

    Parameters
    ----------
    seed : int or numpy.uint64
        Run seed in [0, 2**64).
    step : int
        Simulation step (int64; negative values are reinterpreted as uint64).
    purpose, kind : int
        Purpose and entity kind codes (uint32), see :mod:`mscabm.random`.
    entity_ids : numpy.ndarray of uint64, shape (n,)
        Entity ids (C-contiguous).
    draw : int, optional
        Draw index (uint32).

    Returns
    -------
    numpy.ndarray of uint64, shape (n,)
        ``key(seed, step, purpose, kind, entity_ids[i], draw)`` as documented in
        :mod:`mscabm.random`.
    """
    seed, step, purpose, kind = _check_key_scalars(seed, step, purpose, kind)
    draw = _check_int("draw", draw, 0, _UINT32_END)
    entity_ids = _check_array("entity_ids", entity_ids, np.uint64, (None,))
    keys = np.empty(entity_ids.shape[0], dtype=np.uint64)
    _rng_ext.hash_keys(seed, step, purpose, kind, entity_ids, draw, keys)
    return keys


def uniform_matrix(
    seed: int | np.uint64,
    step: int,
    purpose: int,
    kind: int,
    entity_ids: np.ndarray,
    n_draws: int,
    first_draw: int = 0,
) -> np.ndarray:
    """Return ``n_draws`` uniforms in [0, 1) per entity; column j is draw ``first_draw + j``.

    Parameters
    ----------
    seed, step, purpose, kind, entity_ids
        As in :func:`hash_keys`.
    n_draws : int
        Number of draw indices (columns), >= 0.
    first_draw : int, optional
        Draw index of column 0; ``first_draw + n_draws - 1`` must fit in uint32.

    Returns
    -------
    numpy.ndarray of float64, shape (n, n_draws)
        ``(key >> 11) * 2**-53`` of each key.
    """
    seed, step, purpose, kind = _check_key_scalars(seed, step, purpose, kind)
    first_draw = _check_int("first_draw", first_draw, 0, _UINT32_END)
    n_draws = _check_int("n_draws", n_draws, 0, _UINT32_END - first_draw + 1)
    entity_ids = _check_array("entity_ids", entity_ids, np.uint64, (None,))
    values = np.empty((entity_ids.shape[0], n_draws), dtype=np.float64)
    _rng_ext.uniform_matrix(
        seed, step, purpose, kind, entity_ids, first_draw, n_draws, values.reshape(-1)
    )
    return values


def uniform(
    seed: int | np.uint64,
    step: int,
    purpose: int,
    kind: int,
    entity_ids: np.ndarray,
    draw: int = 0,
) -> np.ndarray:
    """Return one uniform in [0, 1) per entity for draw index ``draw``.

    Parameters
    ----------
    seed, step, purpose, kind, entity_ids, draw
        As in :func:`hash_keys`.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        ``(key >> 11) * 2**-53`` of each key.
    """
    return uniform_matrix(seed, step, purpose, kind, entity_ids, 1, first_draw=draw).reshape(-1)


# ------------------------------------------------------------------------ rules (cext/rules.pyx)
# (section: Hill-rule evaluation)

from collections.abc import Iterable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from mscabm import _rules as _rules_ext  # noqa: E402


def _read_only_copy(values: object, dtype: type) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True).reshape(-1)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class CompiledRules:
    """Behaviour rules compiled to the index arrays :func:`evaluate_rules` reads.

    Rule r belongs to cell type ``rule_type[r]`` and behaviour ``rule_behaviour[r]``,
    increases it (``rule_direction[r] == +1``) or decreases it (``-1``), and is the product
    (AND) of the Hill terms ``rule_term_start[r]:rule_term_start[r + 1]``. Term t reads signal
    ``term_signal[t]`` with half-max ``term_half_max[t]`` and Hill power ``term_hill_power[t]``.
    The arrays are stored as read-only copies; validation happens in :func:`evaluate_rules`.

    Attributes
    ----------
    rule_type, rule_behaviour : numpy.ndarray of int32, shape (n_rules,)
    rule_direction : numpy.ndarray of int8, shape (n_rules,)
    rule_term_start : numpy.ndarray of int32, shape (n_rules + 1,)
    term_signal : numpy.ndarray of int32, shape (n_terms,)
    term_half_max, term_hill_power : numpy.ndarray of float64, shape (n_terms,)
    """

    rule_type: np.ndarray
    rule_behaviour: np.ndarray
    rule_direction: np.ndarray
    rule_term_start: np.ndarray
    term_signal: np.ndarray
    term_half_max: np.ndarray
    term_hill_power: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in (
            ("rule_type", np.int32),
            ("rule_behaviour", np.int32),
            ("rule_direction", np.int8),
            ("rule_term_start", np.int32),
            ("term_signal", np.int32),
            ("term_half_max", np.float64),
            ("term_hill_power", np.float64),
        ):
            object.__setattr__(self, name, _read_only_copy(getattr(self, name), dtype))

    @classmethod
    def from_rules(
        cls, rules: Iterable[tuple[int, int, int, Sequence[tuple[int, float, float]]]]
    ) -> CompiledRules:
        """Compile rules given as ``(cell_type, behaviour, direction, terms)`` tuples.

        Parameters
        ----------
        rules : iterable of tuple
            ``direction`` is +1 (increases) or -1 (decreases); ``terms`` is a sequence of
            ``(signal, half_max, hill_power)``, several terms meaning "all together" (AND).

        Returns
        -------
        CompiledRules
            The rules in the given order.
        """
        rule_type, rule_behaviour, rule_direction, term_start = [], [], [], [0]
        term_signal, term_half_max, term_hill_power = [], [], []
        for cell_type, behaviour, direction, terms in rules:
            rule_type.append(cell_type)
            rule_behaviour.append(behaviour)
            rule_direction.append(direction)
            for signal, half_max, hill_power in terms:
                term_signal.append(signal)
                term_half_max.append(half_max)
                term_hill_power.append(hill_power)
            term_start.append(len(term_signal))
        return cls(
            rule_type, rule_behaviour, rule_direction, term_start,
            term_signal, term_half_max, term_hill_power,
        )  # fmt: skip

    @property
    def n_rules(self) -> int:
        """Number of rules."""
        return int(self.rule_type.shape[0])

    def arrays(self) -> tuple[np.ndarray, ...]:
        """Return the seven arrays in the argument order of :func:`evaluate_rules`."""
        return (
            self.rule_type, self.rule_behaviour, self.rule_direction, self.rule_term_start,
            self.term_signal, self.term_half_max, self.term_hill_power,
        )  # fmt: skip

    def evaluate(
        self,
        signals: np.ndarray,
        cell_type: np.ndarray,
        base: np.ndarray,
        saturation_up: np.ndarray,
        saturation_down: np.ndarray,
    ) -> np.ndarray:
        """Evaluate the rules for every cell; see :func:`evaluate_rules`.

        Parameters
        ----------
        signals, cell_type, base, saturation_up, saturation_down
            As in :func:`evaluate_rules`.

        Returns
        -------
        numpy.ndarray of float64, shape (n_cells, n_behaviours)
            Behaviour values per cell.
        """
        return evaluate_rules(
            signals, cell_type, base, saturation_up, saturation_down, *self.arrays()
        )


def evaluate_rules(
    signals: np.ndarray,
    cell_type: np.ndarray,
    base: np.ndarray,
    saturation_up: np.ndarray,
    saturation_down: np.ndarray,
    rule_type: np.ndarray,
    rule_behaviour: np.ndarray,
    rule_direction: np.ndarray,
    rule_term_start: np.ndarray,
    term_signal: np.ndarray,
    term_half_max: np.ndarray,
    term_hill_power: np.ndarray,
) -> np.ndarray:
    """Evaluate Hill rules: behaviour values of every cell (DESIGN.md, principle 5).

    For cell i of type t and behaviour j, with ``H`` of a rule the product of its terms
    ``s**n / (K**n + s**n)`` (``s <= 0`` gives 0; ``s = +inf`` gives 1)::

        U = 1 - prod(1 - H) over the increasing rules of (t, j)
        D = 1 - prod(1 - H) over the decreasing rules of (t, j)
        b = base[t, j] + (saturation_up[t, j] - base[t, j]) * U
        b = b + (saturation_down[t, j] - b) * D

    A behaviour with no rule for type t takes ``base[t, j]``. Rules may come in any order.

    Parameters
    ----------
    signals : numpy.ndarray of float64, shape (n_cells, n_signals)
        Signal values per cell, C-order (a raveled 1-D array of n_cells * n_signals values is
        accepted when n_cells > 0). NaN is rejected.
    cell_type : numpy.ndarray of int32, shape (n_cells,)
        Type code of each cell, in [0, n_types).
    base, saturation_up, saturation_down : numpy.ndarray of float64, shape (n_types, n_behaviours)
        Base value and the saturation values of increasing and decreasing rules.
    rule_type, rule_behaviour : numpy.ndarray of int32, shape (n_rules,)
        Cell type and behaviour of each rule.
    rule_direction : numpy.ndarray of int8, shape (n_rules,)
        +1 (increases) or -1 (decreases).
    rule_term_start : numpy.ndarray of int32, shape (n_rules + 1,)
        CSR offsets of each rule's terms; every rule has at least one term.
    term_signal : numpy.ndarray of int32, shape (n_terms,)
        Signal column of each term.
    term_half_max : numpy.ndarray of float64, shape (n_terms,)
        Half-max K > 0 of each term.
    term_hill_power : numpy.ndarray of float64, shape (n_terms,)
        Hill power n >= 0 of each term (n = 0 gives H = 1/2 for any s > 0).

    Returns
    -------
    numpy.ndarray of float64, shape (n_cells, n_behaviours)
        Behaviour values.

    Raises
    ------
    ValueError
        On a wrong dtype, shape, contiguity or an out-of-range value.
    """
    prepared = prepare_rules(
        base, saturation_up, saturation_down,
        rule_type, rule_behaviour, rule_direction, rule_term_start,
        term_signal, term_half_max, term_hill_power,
    )  # fmt: skip
    return prepared.evaluate(signals, cell_type)


def _frozen(values: np.ndarray) -> np.ndarray:
    array = np.array(values, copy=True)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class PreparedRules:
    """Rule tables checked once, with their evaluation order (see :func:`prepare_rules`).

    :meth:`evaluate` checks only the per-call arrays (signals, cell types), so the engine pays
    the table checks once per simulation instead of once per step. All arrays are read-only.
    """

    base: np.ndarray
    saturation_up: np.ndarray
    saturation_down: np.ndarray
    rule_direction: np.ndarray
    rule_term_start: np.ndarray
    term_signal: np.ndarray
    term_half_max: np.ndarray
    term_hill_power: np.ndarray
    group_start: np.ndarray
    rule_order: np.ndarray
    type_slot_start: np.ndarray
    slot_signal: np.ndarray
    slot_half_max: np.ndarray
    slot_hill_power: np.ndarray
    term_slot: np.ndarray

    def evaluate(self, signals: np.ndarray, cell_type: np.ndarray) -> np.ndarray:
        """Behaviour values ``(n_cells, n_behaviours)``; arguments as in :func:`evaluate_rules`.

        Raises
        ------
        ValueError
            On a wrong dtype, shape or contiguity, NaN signals, a cell type out of range or a
            rule reading a signal column the matrix does not have.
        """
        n_types, n_behaviours = self.base.shape
        cell_type = _check_array("cell_type", cell_type, np.int32, (None,))
        n_cells = cell_type.shape[0]
        if n_cells and (cell_type.min() < 0 or cell_type.max() >= n_types):
            raise ValueError(f"cell_type must be in [0, {n_types}) (rows of base)")
        signal_columns_known = True
        if isinstance(signals, np.ndarray) and signals.ndim == 1:
            if n_cells == 0 and signals.size == 0:  # no cells: the raveled width is unknowable
                signals, signal_columns_known = signals.reshape(0, 0), False
            elif n_cells == 0 or signals.size % n_cells:
                raise ValueError(
                    f"raveled signals has {signals.size} values, not a multiple of {n_cells} cells"
                )
            else:
                signals = signals.reshape(n_cells, signals.size // n_cells)
        signals = _check_array("signals", signals, np.float64, (n_cells, None))
        n_signals = signals.shape[1]
        if np.isnan(signals).any():
            raise ValueError("signals must not contain NaN")
        if (
            self.term_signal.shape[0]
            and signal_columns_known
            and self.term_signal.max() >= n_signals
        ):
            raise ValueError(f"term_signal must be in [0, {n_signals}) (columns of signals)")
        values = np.empty((n_cells, n_behaviours), dtype=np.float64)
        slots = int(np.diff(self.type_slot_start).max()) if n_types else 0
        hill = np.empty(max(1, n_cells * slots), dtype=np.float64)
        _rules_ext.evaluate_rules(
            signals.reshape(-1), n_signals, cell_type,
            self.base.reshape(-1), self.saturation_up.reshape(-1),
            self.saturation_down.reshape(-1), n_behaviours,
            self.group_start, self.rule_order, self.rule_direction, self.rule_term_start,
            self.type_slot_start, self.slot_signal, self.slot_half_max, self.slot_hill_power,
            self.term_slot, hill, slots, values.reshape(-1),
        )  # fmt: skip
        return values


def prepare_rules(
    base: np.ndarray,
    saturation_up: np.ndarray,
    saturation_down: np.ndarray,
    rule_type: np.ndarray,
    rule_behaviour: np.ndarray,
    rule_direction: np.ndarray,
    rule_term_start: np.ndarray,
    term_signal: np.ndarray,
    term_half_max: np.ndarray,
    term_hill_power: np.ndarray,
) -> PreparedRules:
    """Check the rule tables of :func:`evaluate_rules` once and order the rules for it.

    Parameters
    ----------
    base, saturation_up, saturation_down, rule_type, rule_behaviour, rule_direction,
    rule_term_start, term_signal, term_half_max, term_hill_power
        As in :func:`evaluate_rules`.

    Returns
    -------
    PreparedRules
        Read-only copies of the tables with the rule order of each (type, behaviour) group.

    Raises
    ------
    ValueError
        On a wrong dtype, shape, contiguity or an out-of-range value.
    """
    base = _check_array("base", base, np.float64, (None, None))
    n_types, n_behaviours = base.shape
    saturation_up = _check_array(
        "saturation_up", saturation_up, np.float64, (n_types, n_behaviours)
    )
    saturation_down = _check_array(
        "saturation_down", saturation_down, np.float64, (n_types, n_behaviours)
    )
    for name, table in (("base", base), ("saturation_up", saturation_up),
                        ("saturation_down", saturation_down)):  # fmt: skip
        if not np.all(np.isfinite(table)):
            raise ValueError(f"{name} must be finite")
    rule_type = _check_array("rule_type", rule_type, np.int32, (None,))
    n_rules = rule_type.shape[0]
    rule_behaviour = _check_array("rule_behaviour", rule_behaviour, np.int32, (n_rules,))
    rule_direction = _check_array("rule_direction", rule_direction, np.int8, (n_rules,))
    rule_term_start = _check_array("rule_term_start", rule_term_start, np.int32, (n_rules + 1,))
    term_signal = _check_array("term_signal", term_signal, np.int32, (None,))
    n_terms = term_signal.shape[0]
    term_half_max = _check_array("term_half_max", term_half_max, np.float64, (n_terms,))
    term_hill_power = _check_array("term_hill_power", term_hill_power, np.float64, (n_terms,))
    if n_rules:
        if rule_type.min() < 0 or rule_type.max() >= n_types:
            raise ValueError(f"rule_type must be in [0, {n_types})")
        if rule_behaviour.min() < 0 or rule_behaviour.max() >= n_behaviours:
            raise ValueError(f"rule_behaviour must be in [0, {n_behaviours})")
        if not np.all(np.abs(rule_direction) == 1):
            raise ValueError("rule_direction must be +1 (increases) or -1 (decreases)")
    if rule_term_start[0] != 0 or rule_term_start[-1] != n_terms:
        raise ValueError(f"rule_term_start must start at 0 and end at n_terms = {n_terms}")
    if np.any(np.diff(rule_term_start) < 1):
        raise ValueError("every rule needs at least one term (rule_term_start strictly increasing)")
    if n_terms:
        if term_signal.min() < 0:
            raise ValueError("term_signal must be >= 0 (a column of signals)")
        if not np.all((term_half_max > 0) & np.isfinite(term_half_max)):
            raise ValueError("term_half_max must be finite and > 0")
        if not np.all((term_hill_power >= 0) & np.isfinite(term_hill_power)):
            raise ValueError("term_hill_power must be finite and >= 0")

    group = rule_type.astype(np.int64) * n_behaviours + rule_behaviour
    rule_order = np.argsort(group, kind="stable").astype(np.int64)
    group_start = np.zeros(n_types * n_behaviours + 1, dtype=np.int64)
    np.cumsum(np.bincount(group, minlength=n_types * n_behaviours), out=group_start[1:])
    # Hill terms a cell type's rules share (same signal, half-max and power) are computed once
    # per cell into a slot and read by every rule that has them: the same value, the same bits.
    term_type = np.repeat(rule_type, np.diff(rule_term_start))
    slot_keys: list[list[tuple[int, float, float]]] = [[] for _ in range(n_types)]
    term_slot = np.zeros(n_terms, dtype=np.int32)
    for term in range(n_terms):
        key = (int(term_signal[term]), float(term_half_max[term]), float(term_hill_power[term]))
        keys = slot_keys[int(term_type[term])]
        if key not in keys:
            keys.append(key)
        term_slot[term] = keys.index(key)
    type_slot_start = np.zeros(n_types + 1, dtype=np.int64)
    np.cumsum([len(keys) for keys in slot_keys], out=type_slot_start[1:])
    slot_list = [key for keys in slot_keys for key in keys]
    return PreparedRules(
        *(_frozen(a) for a in (base, saturation_up, saturation_down)),
        *(_read_only_copy(a, a.dtype) for a in (
            rule_direction, rule_term_start, term_signal, term_half_max, term_hill_power,
        )),
        _read_only_copy(group_start, np.int64),
        _read_only_copy(rule_order, np.int64),
        _read_only_copy(type_slot_start, np.int64),
        _read_only_copy([k[0] for k in slot_list], np.int32),
        _read_only_copy([k[1] for k in slot_list], np.float64),
        _read_only_copy([k[2] for k in slot_list], np.float64),
        _read_only_copy(term_slot, np.int32),
    )  # fmt: skip


def gather_signals(
    conc: np.ndarray,
    voxels: np.ndarray,
    field_columns: np.ndarray,
    n_signals: int,
    *,
    counts: np.ndarray | None = None,
    neighbours: np.ndarray | None = None,
    count_columns: np.ndarray | None = None,
    own_type: np.ndarray | None = None,
    membership: np.ndarray | None = None,
) -> np.ndarray:
    """Signal matrix of cells at ``voxels``: the field levels there and contact counts.

    Row i (the cell at voxel ``v = voxels[i]``) holds ``conc[f, v]`` in column
    ``field_columns[f]``. With ``counts`` (and ``neighbours``, ``count_columns``), column
    ``g`` of ``counts`` summed over v and its neighbours (``neighbours[v, j]``; -1, off the
    lattice, reads the zero row ``n_voxels``) goes to column ``count_columns[g]`` (-1:
    nowhere), as float64 of the exact integer sum; with ``own_type`` the cell's own
    membership ``membership[own_type[i], g]`` is taken off the first ``n_groups`` columns
    first (a cell does not count itself; -1 takes nothing off). Every other entry is 0.
    The independent NumPy twin is :func:`mscabm._reference.gather_signals`.

    Parameters
    ----------
    conc : numpy.ndarray of float64, shape (n_fields, n_voxels)
        Field levels per voxel.
    voxels : numpy.ndarray of int64, shape (n_cells,)
        Voxel of each cell, in [0, n_voxels).
    field_columns : numpy.ndarray of int64, shape (n_fields,)
        Signal column of each field, in [0, n_signals).
    n_signals : int
        Columns of the matrix.
    counts : numpy.ndarray of int64, shape (n_voxels + 1, width), optional
        Per voxel counts (e.g. cells of each contact group, NETs); row ``n_voxels`` is zero.
    neighbours : numpy.ndarray of int64, shape (n_voxels, k), optional
        Neighbour table (:meth:`mscabm.grid.Grid.neighbour_table`), -1 for outside.
    count_columns : numpy.ndarray of int64, shape (width,), optional
        Signal column of each column of ``counts``, in [-1, n_signals).
    own_type : numpy.ndarray of int32, shape (n_cells,), optional
        Row of ``membership`` of each cell, or -1.
    membership : numpy.ndarray of bool, shape (n_codes, n_groups), optional
        Groups each row counts in (``n_groups <= width``); needed with ``own_type``.

    Returns
    -------
    numpy.ndarray of float64, shape (n_cells, n_signals)

    Raises
    ------
    ValueError
        On a wrong dtype, shape or contiguity, an index out of range, two sources for one
        signal column, a nonzero off-lattice row of ``counts``, or contact arguments given
        in part.
    """
    if isinstance(n_signals, bool) or not isinstance(n_signals, int | np.integer):
        raise ValueError(f"n_signals must be an integer, got {n_signals!r}")
    n_signals = int(n_signals)
    if n_signals < 0:
        raise ValueError(f"n_signals must be >= 0, got {n_signals}")
    field_columns = _check_array("field_columns", field_columns, np.int64, (None,))
    n_fields = field_columns.shape[0]
    conc = _check_array("conc", conc, np.float64, (n_fields, None))
    n_voxels = conc.shape[1]
    voxels = _check_array("voxels", voxels, np.int64, (None,))
    n_cells = voxels.shape[0]
    if n_cells and (voxels.min() < 0 or voxels.max() >= n_voxels):
        raise ValueError(f"voxels must be in [0, {n_voxels})")
    targets = [field_columns]
    contact = (counts, neighbours, count_columns)
    if all(a is None for a in contact):
        if own_type is not None or membership is not None:
            raise ValueError("own_type and membership need counts, neighbours and count_columns")
        width = k = n_groups = 0
        counts = neighbours = count_columns = np.zeros(1, dtype=np.int64)
        own_type = np.zeros(1, dtype=np.int32)
        membership = np.zeros(1, dtype=np.uint8)
    elif any(a is None for a in contact):
        raise ValueError("counts, neighbours and count_columns go together")
    else:
        counts = _check_array("counts", counts, np.int64, (n_voxels + 1, None))
        width = counts.shape[1]
        if counts[n_voxels].any():
            raise ValueError(f"row {n_voxels} of counts (off the lattice) must be zero")
        neighbours = _check_array("neighbours", neighbours, np.int64, (n_voxels, None))
        k = neighbours.shape[1]
        if neighbours.size and (neighbours.min() < -1 or neighbours.max() >= n_voxels):
            raise ValueError(f"neighbours must be in [-1, {n_voxels}) (-1 marks outside)")
        count_columns = _check_array("count_columns", count_columns, np.int64, (width,))
        if width and (count_columns.min() < -1 or count_columns.max() >= n_signals):
            raise ValueError(f"count_columns must be in [-1, {n_signals}) (-1: not written)")
        targets.append(count_columns[count_columns >= 0])
        if own_type is None:
            if membership is not None:
                raise ValueError("membership is used only with own_type")
            n_groups = 0
            own_type = np.full(max(n_cells, 1), -1, dtype=np.int32)
            membership = np.zeros(1, dtype=np.uint8)
        else:
            if membership is None:
                raise ValueError("own_type needs membership")
            membership = _check_array("membership", membership, np.bool_, (None, None))
            n_codes, n_groups = membership.shape
            if n_groups > width:
                raise ValueError(f"membership has {n_groups} groups, counts only {width} columns")
            own_type = _check_array("own_type", own_type, np.int32, (n_cells,))
            if n_cells and (own_type.min() < -1 or own_type.max() >= n_codes):
                raise ValueError(f"own_type must be in [-1, {n_codes}) (rows of membership)")
            membership = membership.view(np.uint8).reshape(-1)
            if not membership.size:
                membership = np.zeros(1, dtype=np.uint8)
    columns = np.concatenate(targets)
    if columns.size and (columns.min() < 0 or columns.max() >= n_signals):
        raise ValueError(f"field_columns must be in [0, {n_signals})")
    if np.unique(columns).size != columns.size:
        raise ValueError("field_columns and count_columns must name each signal column once")
    signals = np.zeros((n_cells, n_signals))
    if n_cells and n_signals:
        _rules_ext.gather_signals(
            conc.reshape(-1), n_voxels, voxels, field_columns, counts.reshape(-1), width,
            neighbours.reshape(-1), k, count_columns, own_type, membership, n_groups,
            np.zeros(max(width, 1), dtype=np.int64), signals.reshape(-1), n_signals,
        )  # fmt: skip
    return signals


# -------------------------------------------------------------------- lattice (cext/lattice.pyx)
# (section: column stacks, rasterisation, moves with exclusion, neighbour counts)

from mscabm import _lattice as _lattice_ext  # noqa: E402


def _check_column_csr(col_start: object, rows: object, n_rows_total: int) -> tuple:
    """Check CSR offsets and row lists of column stacks; return (col_start, rows, n_columns)."""
    col_start = _check_array("col_start", col_start, np.int64, (None,))
    if col_start.shape[0] < 1:
        raise ValueError("col_start must have n_columns + 1 >= 1 entries")
    rows = _check_array("rows", rows, np.int64, (None,))
    if col_start[0] != 0 or col_start[-1] != rows.shape[0] or np.any(np.diff(col_start) < 0):
        raise ValueError(f"col_start must be non-decreasing from 0 to len(rows) = {rows.shape[0]}")
    if rows.shape[0]:
        if rows.min() < 0 or rows.max() >= n_rows_total:
            raise ValueError(f"rows must be in [0, {n_rows_total}) (rows of the cell table)")
        if np.bincount(rows, minlength=n_rows_total).max() > 1:
            raise ValueError("rows must not list a cell twice")
    return col_start, rows, col_start.shape[0] - 1


def stack_order(
    column: np.ndarray, key: np.ndarray, n_columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sort cells by column, then by ``key`` within a column (stable).

    Parameters
    ----------
    column : numpy.ndarray of int64, shape (n,)
        Column index of each cell row, in [0, n_columns).
    key : numpy.ndarray of float64, shape (n,)
        Order within a column (e.g. the bottom height); ties keep row order. NaN is rejected.
    n_columns : int
        Number of lateral columns.

    Returns
    -------
    rows : numpy.ndarray of int64, shape (n,)
        Row indices, by column, then by key, then by row.
    col_start : numpy.ndarray of int64, shape (n_columns + 1,)
        CSR offsets: column c holds ``rows[col_start[c]:col_start[c + 1]]``.
    """
    column = _check_array("column", column, np.int64, (None,))
    n = column.shape[0]
    key = _check_array("key", key, np.float64, (n,))
    n_columns = _check_int("n_columns", n_columns, 0, _INT64_END)
    if n and (column.min() < 0 or column.max() >= n_columns):
        raise ValueError(f"column must be in [0, {n_columns})")
    if np.isnan(key).any():
        raise ValueError("key must not contain NaN")
    rows = np.empty(n, dtype=np.int64)
    col_start = np.zeros(n_columns + 1, dtype=np.int64)
    cursor = np.empty(n_columns, dtype=np.int64)
    buffer = np.empty(n, dtype=np.int64)
    _lattice_ext.stack_order(column, key, rows, col_start, cursor, buffer)
    return rows, col_start


def stack_columns(
    col_start: np.ndarray, rows: np.ndarray, height_um: np.ndarray, bm_height_um: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stack each column's cells bottom-to-top on the basement membrane.

    The first cell of column c starts at ``bm_height_um[c]``; each next cell starts where the
    previous one ends (bottom + height, added in stack order).

    Parameters
    ----------
    col_start : numpy.ndarray of int64, shape (n_columns + 1,)
        CSR offsets into ``rows`` (see :func:`stack_order`).
    rows : numpy.ndarray of int64, shape (n,)
        Cell rows by column, bottom to top; each row at most once.
    height_um : numpy.ndarray of float64, shape (n_rows_total,)
        Height of every cell row (finite, >= 0).
    bm_height_um : numpy.ndarray of float64, shape (n_columns,)
        Basement-membrane height of each column above the bottom of the grid.

    Returns
    -------
    z_bottom_um : numpy.ndarray of float64, shape (n_rows_total,)
        Bottom height of each listed row; 0 for rows not listed.
    column_top_um : numpy.ndarray of float64, shape (n_columns,)
        Top of each column's stack (the membrane height for an empty column).
    """
    height_um = _check_array("height_um", height_um, np.float64, (None,))
    n_rows_total = height_um.shape[0]
    col_start, rows, n_columns = _check_column_csr(col_start, rows, n_rows_total)
    bm_height_um = _check_array("bm_height_um", bm_height_um, np.float64, (n_columns,))
    if not np.all(np.isfinite(height_um) & (height_um >= 0)):
        raise ValueError("height_um must be finite and >= 0")
    if not np.all(np.isfinite(bm_height_um)):
        raise ValueError("bm_height_um must be finite")
    z_bottom_um = np.zeros(n_rows_total, dtype=np.float64)
    column_top_um = np.empty(n_columns, dtype=np.float64)
    _lattice_ext.stack_columns(col_start, rows, height_um, bm_height_um, z_bottom_um, column_top_um)
    return z_bottom_um, column_top_um


def rasterize_columns(
    col_start: np.ndarray,
    rows: np.ndarray,
    z_bottom_um: np.ndarray,
    height_um: np.ndarray,
    code: np.ndarray,
    voxel_um: float,
    n_z: int,
    tissue: np.ndarray,
    owner: np.ndarray,
) -> int:
    """Paint column stacks into a voxel layer (in place).

    Voxel k of column c (raveled index ``k * n_columns + c``) gets the code and row of the cell
    whose ``[z_bottom, z_bottom + height)`` holds the voxel centre ``(k + 0.5) * voxel_um``.
    Voxels no cell covers are left as they are; parts above the grid are ignored.

    Parameters
    ----------
    col_start, rows
        Column stacks, as in :func:`stack_columns`.
    z_bottom_um, height_um : numpy.ndarray of float64, shape (n_rows_total,)
        Bottom and height of every cell row (finite; heights >= 0).
    code : numpy.ndarray of uint8, shape (n_rows_total,)
        Tissue code of every cell row.
    voxel_um : float
        Voxel edge length (> 0).
    n_z : int
        Number of voxel layers.
    tissue : numpy.ndarray of uint8, shape (n_z * n_columns,)
        Tissue layer, updated in place.
    owner : numpy.ndarray of int64, shape (n_z * n_columns,)
        Cell row of each voxel, updated in place.

    Returns
    -------
    int
        Number of cells whose top lies above the grid (``> n_z * voxel_um``); the caller
        decides whether that is an error.
    """
    z_bottom_um = _check_array("z_bottom_um", z_bottom_um, np.float64, (None,))
    n_rows_total = z_bottom_um.shape[0]
    height_um = _check_array("height_um", height_um, np.float64, (n_rows_total,))
    code = _check_array("code", code, np.uint8, (n_rows_total,))
    col_start, rows, n_columns = _check_column_csr(col_start, rows, n_rows_total)
    n_z = _check_int("n_z", n_z, 0, _INT64_END)
    voxel_um = float(voxel_um)
    if not (np.isfinite(voxel_um) and voxel_um > 0):
        raise ValueError(f"voxel_um must be finite and > 0, got {voxel_um}")
    tissue = _check_array("tissue", tissue, np.uint8, (n_z * n_columns,), writeable=True)
    owner = _check_array("owner", owner, np.int64, (n_z * n_columns,), writeable=True)
    if not np.all(np.isfinite(z_bottom_um)):
        raise ValueError("z_bottom_um must be finite")
    if not np.all(np.isfinite(height_um) & (height_um >= 0)):
        raise ValueError("height_um must be finite and >= 0")
    return int(
        _lattice_ext.rasterize_columns(
            col_start, rows, z_bottom_um, height_um, code, voxel_um, n_z, tissue, owner
        )
    )


def move_with_exclusion(
    order: np.ndarray,
    from_voxel: np.ndarray,
    to_voxel: np.ndarray,
    occupancy: np.ndarray,
    capacity: np.ndarray,
) -> np.ndarray:
    """Apply moves one at a time in ``order``; a move succeeds when its target has room.

    Move ``order[q]`` is processed q-th. It is accepted when
    ``occupancy[to] < capacity[to]``; then ``occupancy[from] -= 1`` (skipped when
    ``from_voxel < 0``, a cell entering the lattice) and ``occupancy[to] += 1``. The order must
    come from a hash permutation (:meth:`mscabm.random.RandomStream.permutation`), never from
    thread scheduling.

    Parameters
    ----------
    order : numpy.ndarray of int64, shape (m,)
        A permutation of ``range(m)``.
    from_voxel : numpy.ndarray of int64, shape (m,)
        Source voxel of each move, in [-1, n_voxels).
    to_voxel : numpy.ndarray of int64, shape (m,)
        Target voxel of each move, in [0, n_voxels).
    occupancy : numpy.ndarray of int32, shape (n_voxels,)
        Occupants per voxel, updated in place.
    capacity : numpy.ndarray of int32, shape (n_voxels,)
        Capacity per voxel.

    Returns
    -------
    numpy.ndarray of uint8, shape (m,)
        1 where move i was accepted (indexed by move, not by position in ``order``).
    """
    order = _check_array("order", order, np.int64, (None,))
    m = order.shape[0]
    from_voxel = _check_array("from_voxel", from_voxel, np.int64, (m,))
    to_voxel = _check_array("to_voxel", to_voxel, np.int64, (m,))
    occupancy = _check_array("occupancy", occupancy, np.int32, (None,), writeable=True)
    n_voxels = occupancy.shape[0]
    capacity = _check_array("capacity", capacity, np.int32, (n_voxels,))
    if m:
        if order.min() < 0 or order.max() >= m or np.bincount(order, minlength=m).max() != 1:
            raise ValueError(f"order must be a permutation of range({m})")
        if from_voxel.min() < -1 or from_voxel.max() >= n_voxels:
            raise ValueError(f"from_voxel must be in [-1, {n_voxels})")
        if to_voxel.min() < 0 or to_voxel.max() >= n_voxels:
            raise ValueError(f"to_voxel must be in [0, {n_voxels})")
    accepted = np.zeros(m, dtype=np.uint8)
    _lattice_ext.move_with_exclusion(order, from_voxel, to_voxel, occupancy, capacity, accepted)
    return accepted


def neighbour_count(
    values: np.ndarray, padded_index: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Sum ``values`` over the neighbour offsets around each query voxel.

    Parameters
    ----------
    values : numpy.ndarray of int32, shape (n_padded,)
        A raveled padded layer (ghosts filled by :meth:`mscabm.grid.Grid.pad`).
    padded_index : numpy.ndarray of int64, shape (q,)
        Query voxels as padded raveled indices (:meth:`mscabm.grid.Grid.padded_index`).
    offsets : numpy.ndarray of int64, shape (k,)
        Offsets on the padded raveled array (:meth:`mscabm.grid.Grid.offsets`).

    Returns
    -------
    numpy.ndarray of int32, shape (q,)
        ``sum(values[padded_index[i] + offsets])`` for each query.
    """
    values = _check_array("values", values, np.int32, (None,))
    padded_index = _check_array("padded_index", padded_index, np.int64, (None,))
    offsets = _check_array("offsets", offsets, np.int64, (None,))
    if (
        padded_index.shape[0]
        and offsets.shape[0]
        and (
            padded_index.min() + offsets.min() < 0
            or padded_index.max() + offsets.max() >= values.shape[0]
        )
    ):
        raise ValueError(
            "padded_index + offsets reaches outside values: query the interior of a padded "
            "array (Grid.padded_index) with offsets of one ghost layer (Grid.offsets)"
        )
    counts = np.empty(padded_index.shape[0], dtype=np.int32)
    _lattice_ext.neighbour_count(values, padded_index, offsets, counts)
    return counts


def scatter_rates(
    out: np.ndarray,
    out_rows: np.ndarray,
    values: np.ndarray,
    value_columns: np.ndarray,
    voxels: np.ndarray,
    scale: float,
) -> None:
    """Add per-cell rates onto the voxels that hold the cells, in place.

    For each j, ``out[out_rows[j], v] += scale * s`` at every voxel v holding a cell, where
    s sums ``values[i, value_columns[j]]`` over the cells at v in their order, starting from
    0.0 (the sums of ``np.bincount``). Voxels without cells are untouched. The independent
    NumPy twin is :func:`mscabm._reference.scatter_rates`.

    Parameters
    ----------
    out : numpy.ndarray of float64, shape (n_out_rows, n_voxels)
        Updated in place (e.g. field sources per voxel).
    out_rows : numpy.ndarray of int64, shape (m,)
        Distinct rows of ``out``.
    values : numpy.ndarray of float64, shape (n_cells, n_columns)
        Per-cell values (e.g. the behaviour matrix).
    value_columns : numpy.ndarray of int64, shape (m,)
        Column of ``values`` added into each of ``out_rows``.
    voxels : numpy.ndarray of int64, shape (n_cells,)
        Voxel of each cell, in [0, n_voxels).
    scale : float
        Finite factor applied to each voxel's sum.

    Raises
    ------
    ValueError
        On a wrong dtype, shape or contiguity, an index out of range, repeated ``out_rows``,
        a read-only ``out`` or a scale that is not finite.
    """
    out = _check_array("out", out, np.float64, (None, None), writeable=True)
    n_out_rows, n_voxels = out.shape
    values = _check_array("values", values, np.float64, (None, None))
    n_cells, n_columns = values.shape
    out_rows = _check_array("out_rows", out_rows, np.int64, (None,))
    value_columns = _check_array("value_columns", value_columns, np.int64, out_rows.shape)
    voxels = _check_array("voxels", voxels, np.int64, (n_cells,))
    scale = float(scale)
    if not np.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale!r}")
    if out_rows.size:
        if out_rows.min() < 0 or out_rows.max() >= n_out_rows:
            raise ValueError(f"out_rows must be in [0, {n_out_rows}) (rows of out)")
        if np.unique(out_rows).size != out_rows.size:
            raise ValueError("out_rows must not repeat a row")
        if value_columns.min() < 0 or value_columns.max() >= n_columns:
            raise ValueError(f"value_columns must be in [0, {n_columns}) (columns of values)")
    if n_cells and (voxels.min() < 0 or voxels.max() >= n_voxels):
        raise ValueError(f"voxels must be in [0, {n_voxels})")
    if not (n_cells and out_rows.size):
        return
    _lattice_ext.scatter_rates(
        out.reshape(-1), n_voxels, out_rows, values.reshape(-1), n_columns, value_columns,
        voxels, scale, np.zeros(n_voxels), np.zeros(n_voxels, dtype=np.uint8),
        np.empty(n_cells, dtype=np.int64),
    )  # fmt: skip


# ---------------------------------------------------------------------- fields (cext/fields.pyx)
# (section: diffusion-decay operator and tridiagonal solves)
#
# Layout shared by these wrappers: many fields on one grid padded by one ghost voxel per side,
# raveled to ``(n_fields, padded_size)``; ``offsets`` holds one positive neighbour offset per
# axis, ``run_starts`` the raveled starts of the interior runs (each ``run_length`` voxels long
# along the last axis); ``face_weight[f, k, v]`` is the weight of the face between voxels ``v``
# and ``v + offsets[k]``. ``active`` (uint8 per field, default all ones) lets converged fields
# skip the work. Reductions are per field in a fixed order, independent of the thread count.

from mscabm import _fields as _fields_baseline  # noqa: E402

#: Set to ``baseline`` to use the field kernels built without AVX2 even on a CPU that has it
#: (both give the same bits; for checking that and for timing one against the other).
FIELDS_SIMD_ENV = "MSCABM_FIELDS_SIMD"


def _cpu_has_avx2() -> bool:
    """Whether NumPy's run-time CPU dispatch found AVX2 (CPU and operating system support)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return False
    return bool(__cpu_features__.get("AVX2", False))


def _field_kernels_module(simd: str | None) -> tuple[object, str]:
    """The compiled field kernels to use and their name (``"avx2"`` or ``"baseline"``).

    The AVX2 build (``mscabm._fields_avx2``, x86-64 only) when the CPU has AVX2 and ``simd``
    is not ``"baseline"``; otherwise the baseline build.
    """
    if simd not in (None, "", "baseline", "auto"):
        raise ValueError(f"{FIELDS_SIMD_ENV} must be 'baseline' or 'auto', got {simd!r}")
    if simd != "baseline" and _cpu_has_avx2():
        try:
            from mscabm import _fields_avx2
        except ImportError:  # not built here (another architecture or compiler)
            pass
        else:
            return _fields_avx2, "avx2"
    return _fields_baseline, "baseline"


_fields_ext, FIELDS_SIMD = _field_kernels_module(os.environ.get(FIELDS_SIMD_ENV))


def _fields_array(
    name: str, array: object, shape: tuple[int | None, ...], dtype: type = np.float64
) -> np.ndarray:
    """Return ``array`` if it is a C-contiguous ndarray of ``dtype`` and ``shape``."""
    want = np.dtype(dtype)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of dtype {want.name}")
    if array.dtype != want:
        raise ValueError(f"{name} must have dtype {want.name}, got {array.dtype.name}")
    if array.ndim != len(shape) or any(
        size is not None and size != got for size, got in zip(shape, array.shape, strict=True)
    ):
        expected = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    return array


def _fields_writeable(name: str, array: np.ndarray) -> None:
    if not array.flags.writeable:
        raise ValueError(f"{name} is updated in place and must be writeable")


def _fields_active(active: np.ndarray | None, n_fields: int) -> np.ndarray:
    if active is None:
        return np.ones(n_fields, dtype=np.uint8)
    return _fields_array("active", active, (n_fields,), np.uint8)


def _fields_layout(
    padded_size: int, offsets: np.ndarray, run_starts: np.ndarray, run_length: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Check the offset and run tables so that every neighbour index stays inside a field."""
    offsets = _fields_array("offsets", offsets, (None,), np.int64)
    run_starts = _fields_array("run_starts", run_starts, (None,), np.int64)
    if isinstance(run_length, bool) or not isinstance(run_length, int | np.integer):
        raise ValueError(f"run_length must be an integer, got {run_length!r}")
    run_length = int(run_length)
    if run_length < 1 or offsets.size == 0 or run_starts.size == 0:
        raise ValueError("run_length, offsets and run_starts must be non-empty")
    if offsets.min() < 1:
        raise ValueError("offsets must be positive (one per axis, the + direction)")
    reach = int(offsets.max())
    if run_starts.min() - reach < 0 or run_starts.max() + run_length - 1 + reach >= padded_size:
        raise ValueError(
            "run_starts/offsets reach outside the padded field: every interior voxel needs "
            "both neighbours along every axis inside the padded grid"
        )
    return offsets, run_starts, run_length


def field_operator_apply(
    x: np.ndarray,
    diagonal: np.ndarray,
    face_weight: np.ndarray,
    offsets: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the diffusion-decay operator ``A`` to many padded fields.

    ``(A x)[v] = diagonal[v] x[v] - sum_k (w_k[v] x[v + o_k] + w_k[v - o_k] x[v - o_k])``
    on the interior voxels; ghost voxels of ``out`` are left as they are.

    Parameters
    ----------
    x, diagonal : ndarray, float64, shape (n_fields, padded_size)
        Values (ghost voxels must be finite) and the diagonal of ``A``.
    face_weight : ndarray, float64, shape (n_fields, ndim, padded_size)
        Weight of the face between ``v`` and ``v + offsets[k]``.
    offsets, run_starts : ndarray, int64
        Neighbour offsets (one per axis) and interior run starts in the padded raveled grid.
    run_length : int
        Length of each interior run.
    active : ndarray, uint8, shape (n_fields,), optional
        Fields to compute (others are skipped and get a zero dot product).
    out : ndarray, float64, shape (n_fields, padded_size), optional
        Output buffer (allocated as zeros when omitted).

    Returns
    -------
    out : ndarray
        ``A x`` on the interior.
    x_dot_ax : ndarray, float64, shape (n_fields,)
        ``x . (A x)`` per field, summed over interior voxels in a fixed order.
    """
    x = _fields_array("x", x, (None, None))
    n_fields, padded_size = x.shape
    diagonal = _fields_array("diagonal", diagonal, (n_fields, padded_size))
    offsets, run_starts, run_length = _fields_layout(padded_size, offsets, run_starts, run_length)
    face_weight = _fields_array("face_weight", face_weight, (n_fields, offsets.size, padded_size))
    active = _fields_active(active, n_fields)
    if out is None:
        out = np.zeros_like(x)
    else:
        out = _fields_array("out", out, (n_fields, padded_size))
        _fields_writeable("out", out)
    partials = np.empty(n_fields * run_starts.size)
    x_dot_ax = np.empty(n_fields)
    _fields_ext.operator_apply(
        x.ravel(), diagonal.ravel(), face_weight.ravel(), offsets, run_starts, run_length,
        n_fields, active, out.ravel(), partials, x_dot_ax,
    )  # fmt: skip
    return out, x_dot_ax


def field_dot(
    a: np.ndarray,
    b: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Per-field dot product over the interior voxels, in a fixed order.

    Parameters
    ----------
    a, b : ndarray, float64, shape (n_fields, padded_size)
        Padded raveled fields.
    run_starts : ndarray, int64
        Interior run starts in the padded raveled grid.
    run_length : int
        Length of each interior run.
    active : ndarray, uint8, shape (n_fields,), optional
        Fields to compute (others give 0).

    Returns
    -------
    ndarray, float64, shape (n_fields,)
        ``sum(a * b)`` over the interior of each field.
    """
    a = _fields_array("a", a, (None, None))
    n_fields, padded_size = a.shape
    b = _fields_array("b", b, (n_fields, padded_size))
    _, run_starts, run_length = _fields_layout(
        padded_size, np.ones(1, dtype=np.int64), run_starts, run_length
    )
    active = _fields_active(active, n_fields)
    partials = np.empty(n_fields * run_starts.size)
    dot = np.empty(n_fields)
    _fields_ext.fields_dot(
        a.ravel(), b.ravel(), run_starts, run_length, n_fields, active, partials, dot
    )
    return dot


def field_cg_update(
    x: np.ndarray,
    residual: np.ndarray,
    direction: np.ndarray,
    a_direction: np.ndarray,
    alpha: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Conjugate-gradient update in place: ``x += alpha p`` and ``r -= alpha (A p)`` per field.

    Parameters
    ----------
    x, residual : ndarray, float64, shape (n_fields, padded_size)
        Updated in place on the interior of active fields.
    direction, a_direction : ndarray, float64, shape (n_fields, padded_size)
        Search direction ``p`` and ``A p``.
    alpha : ndarray, float64, shape (n_fields,)
        Step length per field.
    run_starts : ndarray, int64
        Interior run starts in the padded raveled grid.
    run_length : int
        Length of each interior run.
    active : ndarray, uint8, shape (n_fields,), optional
        Fields to update (others are untouched and give 0).

    Returns
    -------
    ndarray, float64, shape (n_fields,)
        Squared residual norm per field after the update, summed in a fixed order.
    """
    x = _fields_array("x", x, (None, None))
    n_fields, padded_size = x.shape
    residual = _fields_array("residual", residual, (n_fields, padded_size))
    direction = _fields_array("direction", direction, (n_fields, padded_size))
    a_direction = _fields_array("a_direction", a_direction, (n_fields, padded_size))
    alpha = _fields_array("alpha", alpha, (n_fields,))
    _fields_writeable("x", x)
    _fields_writeable("residual", residual)
    _, run_starts, run_length = _fields_layout(
        padded_size, np.ones(1, dtype=np.int64), run_starts, run_length
    )
    active = _fields_active(active, n_fields)
    partials = np.empty(n_fields * run_starts.size)
    residual_sq = np.empty(n_fields)
    _fields_ext.cg_update(
        x.ravel(), residual.ravel(), direction.ravel(), a_direction.ravel(), alpha, run_starts,
        run_length, n_fields, active, partials, residual_sq,
    )  # fmt: skip
    return residual_sq


def field_cg_direction(
    preconditioned: np.ndarray,
    direction: np.ndarray,
    beta: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
) -> None:
    """Set the new search direction in place: ``p = z + beta p`` on active fields.

    Parameters
    ----------
    preconditioned : ndarray, float64, shape (n_fields, padded_size)
        Preconditioned residual ``z``.
    direction : ndarray, float64, shape (n_fields, padded_size)
        Search direction ``p``, updated in place.
    beta : ndarray, float64, shape (n_fields,)
        Weight of the previous direction per field.
    run_starts : ndarray, int64
        Interior run starts in the padded raveled grid.
    run_length : int
        Length of each interior run.
    active : ndarray, uint8, shape (n_fields,), optional
        Fields to update.
    """
    direction = _fields_array("direction", direction, (None, None))
    n_fields, padded_size = direction.shape
    preconditioned = _fields_array("preconditioned", preconditioned, (n_fields, padded_size))
    beta = _fields_array("beta", beta, (n_fields,))
    _fields_writeable("direction", direction)
    _, run_starts, run_length = _fields_layout(
        padded_size, np.ones(1, dtype=np.int64), run_starts, run_length
    )
    active = _fields_active(active, n_fields)
    _fields_ext.cg_direction(
        preconditioned.ravel(), direction.ravel(), beta, run_starts, run_length, n_fields, active
    )


def tridiagonal_factor(lower: np.ndarray, diagonal: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Thomas factorisation of a batch of tridiagonal systems sharing off-diagonals per lane.

    Parameters
    ----------
    lower, upper : ndarray, float64, shape (n_batch, n_rows)
        ``lower[b, z]`` multiplies unknown ``z - 1`` in row ``z`` (``lower[b, 0]`` unused) and
        ``upper[b, z]`` unknown ``z + 1`` (``upper[b, -1]`` unused); shared by all lanes.
    diagonal : ndarray, float64, shape (n_batch, n_rows, n_lanes)
        Diagonal of each of the ``n_batch * n_lanes`` systems. Pivots must not vanish
        (diagonal dominance guarantees it).

    Returns
    -------
    ndarray, float64, shape (n_batch, n_rows, n_lanes)
        Inverse pivots, ``1 / (diagonal[z] - lower[z] upper[z - 1] inv_pivot[z - 1])``.
    """
    diagonal = _fields_array("diagonal", diagonal, (None, None, None))
    n_batch, n_rows, n_lanes = diagonal.shape
    lower = _fields_array("lower", lower, (n_batch, n_rows))
    upper = _fields_array("upper", upper, (n_batch, n_rows))
    inv_pivot = np.empty_like(diagonal)
    _fields_ext.tridiagonal_factor(
        lower.ravel(), diagonal.ravel(), upper.ravel(), n_batch, n_rows, n_lanes,
        inv_pivot.ravel(),
    )  # fmt: skip
    if not np.all(np.isfinite(inv_pivot)):
        raise ValueError("tridiagonal_factor: a pivot vanished (the systems are singular)")
    return inv_pivot


def tridiagonal_solve(
    lower: np.ndarray,
    upper: np.ndarray,
    inv_pivot: np.ndarray,
    rhs: np.ndarray,
    active: np.ndarray | None = None,
) -> None:
    """Solve factored tridiagonal systems in place (``rhs`` becomes the solution).

    Parameters
    ----------
    lower, upper : ndarray, float64, shape (n_batch, n_rows)
        Off-diagonals as given to :func:`tridiagonal_factor`.
    inv_pivot : ndarray, float64, shape (n_batch, n_rows, n_lanes)
        Output of :func:`tridiagonal_factor`.
    rhs : ndarray, float64, shape (n_batch, n_rows, n_lanes)
        Right-hand sides, overwritten with the solutions.
    active : ndarray, uint8, shape (n_batch,), optional
        Batches to solve (others are left untouched).
    """
    inv_pivot = _fields_array("inv_pivot", inv_pivot, (None, None, None))
    n_batch, n_rows, n_lanes = inv_pivot.shape
    lower = _fields_array("lower", lower, (n_batch, n_rows))
    upper = _fields_array("upper", upper, (n_batch, n_rows))
    rhs = _fields_array("rhs", rhs, (n_batch, n_rows, n_lanes))
    _fields_writeable("rhs", rhs)
    active = _fields_active(active, n_batch)
    _fields_ext.tridiagonal_solve(
        lower.ravel(), upper.ravel(), inv_pivot.ravel(), rhs.ravel(), n_batch, n_rows, n_lanes,
        active,
    )  # fmt: skip


# Multigrid-preconditioned CG of the general field solver (layout: cext/fields.pyx).
from typing import NamedTuple  # noqa: E402

# Below this many voxel-fields of work per call, threads cost more than they save (OpenMP
# barriers spin on tiny loops and a busy second core turns that into waiting).
FIELDS_PARALLEL_MIN_WORK = 200_000


class FieldMultigrid(NamedTuple):
    """Lateral-semicoarsening hierarchy of the implicit diffusion-decay operator.

    Every level keeps the ``nz`` depth rows and halves the lateral axes (rounding up) until one
    column is left; level ``l`` owns columns ``level_offsets[l] : level_offsets[l] +
    level_cols[l]`` of rows of ``n_total`` columns (lateral C order inside a level).

    Attributes
    ----------
    nz : int
        Depth rows of every level.
    level_cols, level_offsets : ndarray, int64, shape (n_levels,)
        Columns per level and the first column of each level.
    neighbours_plus, neighbours_minus : ndarray, int64, shape (n_axes, n_total)
        Level-local column across the + / - face along each lateral axis.
    aggregate : ndarray, int64, shape (n_total,)
        Column of the next level each column belongs to (unused on the last level).
    colour_columns : ndarray, int64, shape (n_total,)
        Level-local columns sorted by colour; no two lateral neighbours share a colour.
    colour_ptr : ndarray, int64, shape (n_levels, n_colours + 1)
        Colour ``k`` of level ``l`` is ``colour_columns[colour_ptr[l, k]:colour_ptr[l, k+1]]``.
    diag, depth, inv_pivot : ndarray, float64, shape (n_sets, nz, n_total)
        Per coefficient set: operator diagonal, weight of the face between rows z and z + 1,
        and inverse Thomas pivots of every column's depth system.
    lateral : ndarray, float64, shape (n_sets, n_axes, nz, n_total)
        Per coefficient set, the weight of each column's + face along each lateral axis.
    decoupled : ndarray, uint8, shape (n_sets, nz, level_cols[0])
        Level-0 voxels without any face (closed): solved exactly, never iterated.
    coefficient_set : ndarray, int64, shape (n_fields,)
        The coefficient set of each field (fields with identical coefficients share one).
    """

    nz: int
    level_cols: np.ndarray
    level_offsets: np.ndarray
    neighbours_plus: np.ndarray
    neighbours_minus: np.ndarray
    aggregate: np.ndarray
    colour_columns: np.ndarray
    colour_ptr: np.ndarray
    diag: np.ndarray
    depth: np.ndarray
    lateral: np.ndarray
    inv_pivot: np.ndarray
    decoupled: np.ndarray
    coefficient_set: np.ndarray


def _fields_check_multigrid(mg: FieldMultigrid) -> tuple[int, int, int, int, bool]:
    """Check every table of ``mg`` so that no kernel index leaves its array.

    Returns ``(n_fields, nz, n_total, n_axes, line)``; ``line`` says that the tables describe
    one periodic lateral axis (see :func:`_fields_is_line`), which the kernels then compute
    instead of reading.
    """
    if not isinstance(mg, FieldMultigrid):
        raise ValueError("mg must be a FieldMultigrid")
    nz = mg.nz
    if isinstance(nz, bool) or not isinstance(nz, int | np.integer) or nz < 1:
        raise ValueError(f"mg.nz must be a positive integer, got {nz!r}")
    cols = _fields_array("level_cols", mg.level_cols, (None,), np.int64)
    offsets = _fields_array("level_offsets", mg.level_offsets, (cols.size,), np.int64)
    plus = _fields_array("neighbours_plus", mg.neighbours_plus, (None, None), np.int64)
    n_axes, n_total = plus.shape
    minus = _fields_array("neighbours_minus", mg.neighbours_minus, (n_axes, n_total), np.int64)
    aggregate = _fields_array("aggregate", mg.aggregate, (n_total,), np.int64)
    colours = _fields_array("colour_columns", mg.colour_columns, (n_total,), np.int64)
    ptr = _fields_array("colour_ptr", mg.colour_ptr, (cols.size, None), np.int64)
    diag = _fields_array("diag", mg.diag, (None, nz, n_total))
    n_sets = diag.shape[0]
    for name in ("depth", "inv_pivot"):
        _fields_array(name, getattr(mg, name), (n_sets, nz, n_total))
    _fields_array("lateral", mg.lateral, (n_sets, n_axes, nz, n_total))
    if cols.size == 0 or n_axes == 0 or ptr.shape[1] < 2:
        raise ValueError("mg needs at least one level, one lateral axis and one colour")
    _fields_array("decoupled", mg.decoupled, (n_sets, nz, int(cols[0])), np.uint8)
    sets = _fields_array("coefficient_set", mg.coefficient_set, (None,), np.int64)
    n_fields = sets.size
    if n_fields == 0 or sets.min() < 0 or sets.max() >= n_sets:
        raise ValueError(f"mg.coefficient_set must list one of the {n_sets} sets per field")
    tables = _MgTables(cols, offsets, plus, minus, aggregate, colours, ptr)
    kind = _fields_tables_kind(tables)
    if kind < 0:  # say what is wrong (the checks below raise; the compiled check agrees)
        _fields_check_tables(tables)
        kind = int(_fields_is_line(tables))
    return n_fields, nz, n_total, n_axes, kind == 1


class _MgTables(NamedTuple):
    """The index tables of a :class:`FieldMultigrid` whose dtypes and shapes are checked."""

    cols: np.ndarray
    offsets: np.ndarray
    plus: np.ndarray
    minus: np.ndarray
    aggregate: np.ndarray
    colours: np.ndarray
    ptr: np.ndarray


def _fields_tables_kind(tables: _MgTables) -> int:
    """The compiled verdict on checked-shape tables: -1 invalid, 0 valid, 1 valid line grid.

    The same conditions as :func:`_fields_check_tables` and :func:`_fields_is_line` (its
    NumPy twins, compared in tests/test_fields_kernels.py), in one pass without temporaries:
    the tables are rebuilt whenever the tissue changes, so they are checked every step.
    """
    cols, offsets, plus, minus, aggregate, colours, ptr = tables
    kind = _fields_ext.mg_tables_kind(
        cols, offsets, plus.ravel(), minus.ravel(), plus.shape[0], aggregate, colours,
        ptr.ravel(), ptr.shape[1],
    )  # fmt: skip
    return int(kind)


def _fields_check_tables(tables: _MgTables) -> None:
    """Raise ``ValueError`` naming the first table of checked shape that breaks its layout."""
    cols, offsets, plus, minus, aggregate, colours, ptr = tables
    n_total = plus.shape[1]
    ends = offsets + cols
    if cols.min() < 1 or offsets[0] != 0 or np.any(offsets[1:] != ends[:-1]) or ends[-1] > n_total:
        raise ValueError("mg levels must be non-empty and laid out one after another")
    if cols[-1] != 1:
        raise ValueError("the last level of mg must have exactly one column")
    level_of = np.repeat(np.arange(cols.size), cols)
    used = int(ends[-1])
    for name, table in (("neighbours_plus", plus), ("neighbours_minus", minus)):
        local = table[:, :used]
        if np.any(local < 0) or np.any(local >= cols[level_of][None, :]):
            raise ValueError(f"{name} points outside its level")
    if cols.size > 1:
        coarse = aggregate[: int(ends[-2])]
        if np.any(coarse < 0) or np.any(coarse >= cols[level_of[: coarse.size] + 1]):
            raise ValueError("aggregate points outside the next level")
    if (
        np.any(np.diff(ptr, axis=1) < 0)
        or np.any(ptr[:, 0] != offsets)
        or np.any(ptr[:, -1] != ends)
    ):
        raise ValueError("colour_ptr must split each level's columns into colour ranges")
    listed = colours[:used]
    if np.any(listed < 0) or np.any(listed >= cols[level_of]):
        raise ValueError("colour_columns points outside its level")


def _fields_is_line(tables: _MgTables) -> bool:
    """Whether valid tables are those of one periodic lateral axis (the 2-D section).

    That is: each level halves the last (rounding up), neighbours ``c ± 1`` modulo the level's
    columns, aggregate ``c // 2``, and three colours: even columns, odd columns, and the last
    column of an odd level with more than one column.
    """
    cols, _, plus, minus, aggregate, colours, ptr = tables
    if plus.shape[0] != 1 or ptr.shape[1] != 4:
        return False
    counts = cols.tolist()
    if any(counts[i + 1] != (counts[i] + 1) // 2 for i in range(len(counts) - 1)):
        return False
    used = int(cols.sum())
    offsets = np.concatenate(([0], np.cumsum(cols)[:-1]))
    level_of = np.repeat(np.arange(cols.size), cols)
    local = np.arange(used) - offsets[level_of]
    n = cols[level_of]
    if not (
        np.array_equal(plus[0, :used], (local + 1) % n)
        and np.array_equal(minus[0, :used], (local - 1) % n)
    ):
        return False
    coarse = int(used - cols[-1])  # every level but the last has an aggregate
    if not np.array_equal(aggregate[:coarse], local[:coarse] // 2):
        return False
    # colour of every column: parity, and 2 for the last column of an odd level (> 1 column)
    colour = np.where((n % 2 == 1) & (n > 1) & (local == n - 1), 2, local % 2)
    listed = colours[:used]
    if np.any(listed < 0) or np.any(listed >= n):
        return False
    position = offsets[level_of] + listed  # where each listed column sits in `colour`
    if np.any(np.bincount(position, minlength=used) != 1):
        return False  # not a permutation of each level's columns
    ranges = np.diff(ptr, axis=1).ravel()
    if ranges.sum() != used:
        return False
    listed_colour = np.repeat(np.tile(np.arange(3), cols.size), ranges)
    return bool(np.array_equal(colour[position], listed_colour))


def _fields_mg_tables(mg: FieldMultigrid) -> tuple:
    return (
        mg.level_cols, mg.level_offsets, mg.neighbours_plus.ravel(), mg.neighbours_minus.ravel(),
        mg.aggregate, mg.colour_columns, mg.colour_ptr.ravel(), mg.diag.ravel(),
        mg.depth.ravel(), mg.lateral.ravel(), mg.inv_pivot.ravel(),
    )  # fmt: skip


def _fields_selected(active: np.ndarray | None, sets: np.ndarray) -> np.ndarray:
    """Active fields, those of one coefficient set one after another.

    Their solves then share the set's arrays in cache; fields are independent, so the order
    does not change any result.
    """
    fields = np.flatnonzero(_fields_active(active, sets.size))
    return fields[np.argsort(sets[fields], kind="stable")].astype(np.int64)


#: Squared residual at or below which :func:`field_mg_pcg` stops a field whatever its rtol
#: (values near 1e-150 would otherwise iterate at the underflow limit of doubles).
FIELDS_RESIDUAL_SQ_FLOOR = float(_fields_ext.mg_residual_sq_floor())

#: Fields of one coefficient set that :func:`field_mg_pcg` solves together on a line grid.
FIELDS_MG_LANES = int(_fields_ext.mg_lanes())


def _fields_groups(fields: np.ndarray, sets: np.ndarray, line: bool) -> np.ndarray:
    """Boundaries of the groups of ``fields`` (sorted by set) solved together.

    On a line grid, consecutive fields of one set in chunks of ``FIELDS_MG_LANES``; otherwise
    one field per group.
    """
    if not line or fields.size == 0:
        return np.arange(fields.size + 1, dtype=np.int64)
    field_sets = sets[fields]
    starts = np.flatnonzero(np.r_[True, field_sets[1:] != field_sets[:-1]])
    bounds = [
        np.arange(start, stop, FIELDS_MG_LANES)
        for start, stop in zip(starts, np.r_[starts[1:], fields.size], strict=True)
    ]
    return np.concatenate([*bounds, [fields.size]]).astype(np.int64)


def field_mg_workspace_shape(mg: FieldMultigrid) -> tuple[int, int, int, int, int]:
    """Shape of the scratch :func:`field_mg_pcg` needs: one slot per thread that may run.

    Parameters
    ----------
    mg : FieldMultigrid
        The hierarchy.

    Returns
    -------
    tuple of int
        ``(n_threads, 4, nz, n_total, FIELDS_MG_LANES)``, ``n_threads`` being OpenMP's
        current maximum.
    """
    return (
        max(1, int(_fields_ext.max_threads())), 4, int(mg.nz), int(mg.neighbours_plus.shape[1]),
        FIELDS_MG_LANES,
    )  # fmt: skip


def field_mg_vcycle(
    mg: FieldMultigrid, residual: np.ndarray, active: np.ndarray | None = None
) -> np.ndarray:
    """Apply the symmetric multigrid V-cycle preconditioner once per field.

    One V-cycle with a zero start: on each level one line Gauss-Seidel sweep over the colours
    (every column's depth system solved exactly) before restriction (sum over each aggregate)
    and one in reverse colour order after prolongation (piecewise constant); the one-column
    coarsest level is solved exactly.

    Parameters
    ----------
    mg : FieldMultigrid
        The hierarchy.
    residual : ndarray, float64, shape (n_fields, nz, level_cols[0])
        Right-hand sides (zero on decoupled voxels).
    active : ndarray, uint8, shape (n_fields,), optional
        Fields to compute (others stay zero).

    Returns
    -------
    ndarray, float64, shape (n_fields, nz, level_cols[0])
        ``M^-1 residual``.
    """
    n_fields, nz, n_total, n_axes, line = _fields_check_multigrid(mg)
    n_cols = int(mg.level_cols[0])
    residual = _fields_array("residual", residual, (n_fields, nz, n_cols))
    fields = _fields_selected(active, mg.coefficient_set)
    xs = np.zeros((n_fields, nz, n_total))
    bs = np.zeros((n_fields, nz, n_total))
    bs[:, :, :n_cols] = residual
    parallel = fields.size > 1 and fields.size * nz * n_total >= FIELDS_PARALLEL_MIN_WORK
    _fields_ext.mg_vcycle(
        nz, n_total, n_axes, line, *_fields_mg_tables(mg), mg.coefficient_set, fields,
        xs.ravel(), bs.ravel(), parallel,
    )  # fmt: skip
    return np.ascontiguousarray(xs[:, :, :n_cols])


def field_mg_pcg(
    mg: FieldMultigrid,
    conc: np.ndarray,
    rhs: np.ndarray,
    rtol: float,
    max_iterations: int,
    active: np.ndarray | None = None,
    workspace: np.ndarray | None = None,
    expected_iterations: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``A x = rhs`` per field by CG preconditioned with :func:`field_mg_vcycle`.

    Warm-started from ``conc``; decoupled voxels are set to ``rhs / diag`` and never iterated;
    a field stops when ``||rhs - A x||² <= max(rtol² ||rhs||², FIELDS_RESIDUAL_SQ_FLOOR)``.
    Every reduction runs in a fixed order on one thread per field, so results do not depend on
    the thread count; threads (one field each) are used only when the work reaches
    ``FIELDS_PARALLEL_MIN_WORK`` voxel-fields. On a line grid (2-D periodic) up to
    ``FIELDS_MG_LANES`` fields of one coefficient set are solved in lockstep, interleaved voxel
    by voxel so the set's coefficients are read once for all of them: each field does the same
    operations and stops where it would alone (the same bits).

    Parameters
    ----------
    mg : FieldMultigrid
        The hierarchy.
    conc : ndarray, float64, shape (n_fields, nz_all, level_cols[0])
        Start values, overwritten with the solution on rows ``[0, mg.nz)`` of active fields
        (rows above are not touched; ``nz_all >= mg.nz``).
    rhs : ndarray, float64, shape (n_fields, nz_all, level_cols[0])
        Right-hand sides; ``||rhs||`` sums all ``nz_all`` rows (a field with zero ``rhs`` is
        set to zero).
    rtol : float
        Relative residual at which a field stops.
    max_iterations : int
        Iterations allowed per field.
    active : ndarray, uint8, shape (n_fields,), optional
        Fields to solve (others are untouched and report zeros).
    workspace : ndarray, float64, optional
        Scratch reused between calls, shaped :func:`field_mg_workspace_shape` (one slot per
        thread; allocated when omitted).
    expected_iterations : ndarray, int64, shape (n_fields,), optional
        A guess of each field's iterations (e.g. the last step's): the fields of a set are
        grouped for the lockstep solve in descending order of it (ties in field order), so
        that fields that stop early are not carried along by one that goes on. Never changes
        a result, only the time.

    Returns
    -------
    iterations : ndarray, int64, shape (n_fields,)
    status : ndarray, int64, shape (n_fields,)
        0 converged, 1 iteration limit reached, 2 preconditioned residual lost positivity.
    residual_sq, rhs_sq : ndarray, float64, shape (n_fields,)
        Final ``||rhs - A x||²`` and ``||rhs||²``.
    """
    n_fields, nz, n_total, n_axes, line = _fields_check_multigrid(mg)
    n_cols = int(mg.level_cols[0])
    conc = _fields_array("conc", conc, (n_fields, None, n_cols))
    _fields_writeable("conc", conc)
    nz_all = conc.shape[1]
    if nz_all < nz:
        raise ValueError(f"conc must have at least mg.nz = {nz} rows, got {nz_all}")
    rhs = _fields_array("rhs", rhs, (n_fields, nz_all, n_cols))
    rtol = float(rtol)
    if not np.isfinite(rtol) or rtol <= 0.0:
        raise ValueError(f"rtol must be a positive finite number, got {rtol!r}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int | np.integer):
        raise ValueError(f"max_iterations must be an integer, got {max_iterations!r}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be positive, got {max_iterations}")
    slots = field_mg_workspace_shape(mg)
    if workspace is None:
        workspace = np.zeros(slots)
    else:
        workspace = _fields_array(
            "workspace", workspace, (None, 4, nz, n_total, FIELDS_MG_LANES)
        )
        _fields_writeable("workspace", workspace)
        if workspace.shape[0] < slots[0]:
            raise ValueError(f"workspace needs {slots[0]} thread slots, got {workspace.shape[0]}")
    fields = _fields_selected(active, mg.coefficient_set)
    if expected_iterations is not None and line:
        expected = _check_array("expected_iterations", expected_iterations, np.int64, (n_fields,))
        # by set, then by descending expectation, then by field
        fields = fields[np.lexsort((fields, -expected[fields], mg.coefficient_set[fields]))]
    iterations = np.zeros(n_fields, dtype=np.int64)
    status = np.zeros(n_fields, dtype=np.int64)
    residual_sq = np.zeros(n_fields)
    rhs_sq = np.zeros(n_fields)
    parallel = fields.size > 1 and fields.size * nz * n_total >= FIELDS_PARALLEL_MIN_WORK
    _fields_ext.mg_pcg(
        nz, n_total, n_axes, line, *_fields_mg_tables(mg), mg.coefficient_set,
        mg.decoupled.ravel(), conc.ravel(), rhs.ravel(), nz_all * n_cols, fields,
        _fields_groups(fields, mg.coefficient_set, line), workspace.ravel(), rtol,
        int(max_iterations), iterations, status, residual_sq, rhs_sq, parallel,
    )  # fmt: skip
    return iterations, status, residual_sq, rhs_sq


def field_mg_build_line(
    diffusion: np.ndarray,
    base: np.ndarray,
    scale: float,
    level_cols: np.ndarray,
    out: tuple[np.ndarray, ...] | None = None,
    changed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coefficient arrays of the multigrid hierarchy of one periodic lateral axis (2-D).

    Level 0: the face between rows z and z + 1 and the face between columns c and c + 1
    (modulo the columns) weigh ``scale`` times the harmonic mean ``2 a b / (a + b)`` of the
    diffusion on both sides (zero if both are zero). Each coarser level pairs columns
    ``(2j, 2j + 1)`` (an odd last column stays alone): open if either is, mass the sum of the
    open ones' masses (1 if none is open), depth faces summed, lateral face half the fine
    face after the pair (zero on a one-column level). Diagonal ``base + depth faces above and
    below + lateral faces on both sides``; inverse Thomas pivots of every column's depth
    system. The same arithmetic, in the same order, as the NumPy build in
    :mod:`mscabm.diffusion`.

    Parameters
    ----------
    diffusion : ndarray, float64, shape (n_sets, nz, level_cols[0])
        Diffusion coefficients (≥ 0; 0 closes a voxel).
    base : ndarray, float64, shape (n_sets, nz, level_cols[0])
        Level-0 mass ``1 + dt decay`` (plus the fixed-bottom face on row 0).
    scale : float
        ``dt / h²``.
    level_cols : ndarray, int64, shape (n_levels,)
        Columns per level: each level ``(n + 1) // 2`` of the previous one, the last one 1.
    out : tuple of ndarray, optional
        ``(diag, depth, lateral, inv_pivot, decoupled, scratch)`` to write into (C-contiguous,
        the shapes returned, scratch float64 ``(2 * n_sets * nz * n_total,)``): reusing them
        between calls avoids the page faults of fresh arrays.
    changed : ndarray, bool, shape (level_cols[0],), optional
        Level-0 columns whose ``diffusion`` or ``base`` differ from those of the build that
        ``out`` holds (with the same ``n_sets``, ``nz`` and ``scale``): only the values these
        columns reach are recomputed, by the same expressions, so the result is the full
        build bit for bit. Requires ``out``; default: build everything.

    Returns
    -------
    diag, depth, inv_pivot : ndarray, float64, shape (n_sets, nz, n_total)
    lateral : ndarray, float64, shape (n_sets, 1, nz, n_total)
    decoupled : ndarray, uint8, shape (n_sets, nz, level_cols[0])
        As in :class:`FieldMultigrid`.
    """
    cols = _fields_array("level_cols", level_cols, (None,), np.int64)
    counts = cols.tolist()
    if (
        not counts
        or counts[0] < 1
        or counts[-1] != 1
        or any(counts[i + 1] != (counts[i] + 1) // 2 for i in range(len(counts) - 1))
        or (len(counts) > 1 and counts[-2] == 1)
    ):
        raise ValueError(f"level_cols must halve (rounding up) down to one column, got {counts}")
    diffusion = _fields_array("diffusion", diffusion, (None, None, counts[0]))
    n_sets, nz, _ = diffusion.shape
    if n_sets < 1 or nz < 1:
        raise ValueError("diffusion needs at least one set and one row")
    base = _fields_array("base", base, diffusion.shape)
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0.0:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    offsets = np.concatenate(([0], np.cumsum(cols)[:-1])).astype(np.int64)
    n_total = int(cols.sum())
    shapes = [(n_sets, nz, n_total), (n_sets, nz, n_total), (n_sets, 1, nz, n_total),
              (n_sets, nz, n_total), (n_sets, nz, counts[0]),
              (2 * n_sets * nz * n_total,)]  # fmt: skip
    dtypes = [np.float64] * 4 + [np.uint8, np.float64]
    if changed is None:
        flags = np.ones(counts[0], dtype=np.uint8)
    else:
        if out is None:
            raise ValueError("changed needs out (the build it updates)")
        flags = _fields_array("changed", changed, (counts[0],), np.bool_).view(np.uint8)
    if out is None:
        out = tuple(np.empty(shape, dtype) for shape, dtype in zip(shapes, dtypes, strict=True))
    elif len(out) != 6:
        raise ValueError("out must hold diag, depth, lateral, inv_pivot, decoupled, scratch")
    names = ("diag", "depth", "lateral", "inv_pivot", "decoupled", "scratch")
    for name, array, shape, dtype in zip(names, out, shapes, dtypes, strict=True):
        _fields_array(name, array, shape, dtype)
        _fields_writeable(name, array)
    diag, depth, lateral, inv_pivot, decoupled, scratch = out
    _fields_ext.mg_build_line(
        diffusion.ravel(), base.ravel(), scale, n_sets, nz, cols, offsets, n_total,
        diag.ravel(), depth.ravel(), lateral.ravel(), inv_pivot.ravel(), decoupled.ravel(),
        scratch, flags, np.empty(2 * n_total, dtype=np.uint8),
        np.empty(2 * n_total, dtype=np.int64), np.empty(2 * len(counts), dtype=np.int64),
    )  # fmt: skip
    return diag, depth, lateral, inv_pivot, decoupled


# ---------------------------------------------------------------------- mobile (cext/mobile.pyx)
# (section: hops of mobile cells with exclusion and chemotaxis)

from mscabm import _mobile as _mobile_ext  # noqa: E402

# Key codes of mscabm.random (Purpose.MOVE_ORDER, EntityKind.CELL), repeated here because
# mscabm.random imports this module; a test checks that they agree.
_PURPOSE_MOVE_ORDER = 5
_KIND_CELL = 1


def mobile_walk(
    voxel: np.ndarray,
    cell_id: np.ndarray,
    hops: np.ndarray,
    bias: np.ndarray,
    follow: np.ndarray,
    walker_kind: np.ndarray,
    fields: np.ndarray,
    allowed: np.ndarray,
    occupancy: np.ndarray,
    capacity: np.ndarray,
    neighbours: np.ndarray,
    seed: int | np.uint64,
    step: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Move mobile cells by up to ``hops[i]`` hops each, with exclusion and chemotaxis.

    The hops happen in rounds ``r = 0 .. max(hops) - 1``. In round ``r`` the cells with
    ``hops > r`` act one at a time, in ascending order of their priority, the raw 64-bit key
    ``key(seed, step, Purpose.MOVE_ORDER, EntityKind.CELL, cell_id, draw=r)`` (ties, practically
    impossible, broken by ``cell_id``, then by position). A cell at voxel ``v`` then:

    1. takes the valid slots ``j`` of ``neighbours[v]``: ``n_j = neighbours[v, j] != -1`` and
       ``allowed[walker_kind, n_j] == 1``; with ``k_v`` valid slots and ``k_v == 0`` the cell
       stays (the hop is spent);
    2. weighs them: with ``g_j = max(0, fields[follow, n_j] - fields[follow, v])`` and
       ``G = g_0 + g_1 + ...`` (valid slots, slot order), ``p_j = (1 - b) / k_v + b * g_j / G``
       with ``b = bias``, evaluated exactly in that order of operations; ``p_j = 1 / k_v`` when
       ``follow == -1`` or ``G == 0``;
    3. draws ``u = (k >> 11) * 2**-53`` from the key ``k = key(seed, step,
       Purpose.MOVE_DIRECTION, EntityKind.CELL, cell_id, draw=r)`` and takes the first valid
       slot whose cumulative sum of ``p`` (plain double additions from 0.0, slot order) exceeds
       ``u``, or the last valid slot if rounding leaves none;
    4. hops there when ``occupancy[target] < capacity[target]``: ``occupancy[v] -= 1``,
       ``occupancy[target] += 1``, the cell's voxel becomes the target and its ``moved`` count
       grows by one. Otherwise it stays (the hop is spent).

    Every step is serial and hash-ordered, so the result does not depend on threads. The
    independent NumPy twin is :func:`mscabm._reference.mobile_walk`.

    Parameters
    ----------
    voxel : numpy.ndarray of int64, shape (n,)
        Current voxel of each cell, in [0, n_voxels) (read only).
    cell_id : numpy.ndarray of uint64, shape (n,)
        Distinct cell ids (part of the random keys).
    hops : numpy.ndarray of int32, shape (n,)
        Hop attempts of each cell this step (>= 0).
    bias : numpy.ndarray of float64, shape (n,)
        Chemotactic weight ``b`` in [0, 1].
    follow : numpy.ndarray of int32, shape (n,)
        Row of ``fields`` each cell climbs, or -1 for a pure random walk.
    walker_kind : numpy.ndarray of int32, shape (n,)
        Row of ``allowed`` of each cell.
    fields : numpy.ndarray of float64, shape (n_fields, n_voxels)
        Field values per voxel (``n_fields`` may be 0 when every ``follow`` is -1); the rows
        that cells follow must be finite.
    allowed : numpy.ndarray of uint8, shape (n_kinds, n_voxels)
        1 where that kind of walker may stand, 0 elsewhere (other values are rejected).
    occupancy : numpy.ndarray of int32, shape (n_voxels,)
        Occupants per voxel, already counting these cells; updated in place.
    capacity : numpy.ndarray of int32, shape (n_voxels,)
        Capacity per voxel.
    neighbours : numpy.ndarray of int64, shape (n_voxels, k)
        Neighbour table (:meth:`mscabm.grid.Grid.neighbour_table`), -1 for outside.
    seed : int or numpy.uint64
        Run seed in [0, 2**64).
    step : int
        Simulation step (int64).

    Returns
    -------
    new_voxel : numpy.ndarray of int64, shape (n,)
        Voxel of each cell after its hops.
    moved : numpy.ndarray of int32, shape (n,)
        Number of successful hops of each cell.

    Raises
    ------
    ValueError
        On a wrong dtype, shape or contiguity, a value out of range, duplicate ids, a followed
        field that is not finite, an ``occupancy`` that is read-only or counts fewer cells in
        a voxel than ``voxel`` puts there.
    """
    occupancy = _check_array("occupancy", occupancy, np.int32, (None,), writeable=True)
    n_voxels = occupancy.shape[0]
    capacity = _check_array("capacity", capacity, np.int32, (n_voxels,))
    neighbours = _check_array("neighbours", neighbours, np.int64, (n_voxels, None))
    k = neighbours.shape[1]
    fields = _check_array("fields", fields, np.float64, (None, n_voxels))
    n_fields = fields.shape[0]
    allowed = _check_array("allowed", allowed, np.uint8, (None, n_voxels))
    n_kinds = allowed.shape[0]
    voxel = _check_array("voxel", voxel, np.int64, (None,))
    n = voxel.shape[0]
    cell_id = _check_array("cell_id", cell_id, np.uint64, (n,))
    hops = _check_array("hops", hops, np.int32, (n,))
    bias = _check_array("bias", bias, np.float64, (n,))
    follow = _check_array("follow", follow, np.int32, (n,))
    walker_kind = _check_array("walker_kind", walker_kind, np.int32, (n,))
    seed = _check_seed(seed)
    step = _check_int("step", step, _INT64_MIN, _INT64_END)
    if neighbours.size and (neighbours.min() < -1 or neighbours.max() >= n_voxels):
        raise ValueError(f"neighbours must be in [-1, {n_voxels}) (-1 marks outside)")
    if allowed.size and allowed.max() > 1:
        raise ValueError("allowed must hold only 0 (forbidden) and 1 (allowed)")
    if n:
        if voxel.min() < 0 or voxel.max() >= n_voxels:
            raise ValueError(f"voxel must be in [0, {n_voxels})")
        ordered_ids = np.sort(cell_id)  # (np.unique hashes uint64 ids: 3x slower here)
        if np.any(ordered_ids[1:] == ordered_ids[:-1]):
            raise ValueError("cell_id must not contain duplicates")
        if hops.min() < 0:
            raise ValueError("hops must be >= 0")
        if not np.all((bias >= 0.0) & (bias <= 1.0)):
            raise ValueError("bias must be in [0, 1] (NaN is rejected)")
        if follow.min() < -1 or follow.max() >= n_fields:
            raise ValueError(f"follow must be -1 or a row of fields, in [-1, {n_fields})")
        if walker_kind.min() < 0 or walker_kind.max() >= n_kinds:
            raise ValueError(f"walker_kind must be a row of allowed, in [0, {n_kinds})")
        followed = np.flatnonzero(np.bincount(follow + 1, minlength=n_fields + 1)[1:])
        if followed.size and not np.all(np.isfinite(fields[followed])):
            raise ValueError("fields followed by a cell must be finite")
        if np.any(occupancy < np.bincount(voxel, minlength=n_voxels)):
            raise ValueError(
                "occupancy must already count the cells: some voxel holds more of them than "
                "its occupancy says"
            )
    n_rounds = int(hops.max()) if n else 0
    orders = []
    for r in range(n_rounds):
        active = np.flatnonzero(hops > r).astype(np.int64)
        ids = np.ascontiguousarray(cell_id[active])
        priority = np.empty(active.shape[0], dtype=np.uint64)
        _rng_ext.hash_keys(seed, step, _PURPOSE_MOVE_ORDER, _KIND_CELL, ids, r, priority)
        orders.append(active[_order_by_keys(priority, ids)])  # active ascends: ties by row
    order = np.concatenate(orders) if orders else np.empty(0, dtype=np.int64)
    order_round = np.repeat(
        np.arange(n_rounds, dtype=np.uint32), [part.shape[0] for part in orders]
    ).astype(np.uint32)
    new_voxel = voxel.copy()
    moved = np.zeros(n, dtype=np.int32)
    _mobile_ext.mobile_walk(
        order, order_round, new_voxel, cell_id, bias, follow, walker_kind, fields.reshape(-1),
        allowed.reshape(-1), occupancy, capacity, neighbours.reshape(-1), n_voxels, k, seed,
        step, moved,
    )  # fmt: skip
    return new_voxel, moved
