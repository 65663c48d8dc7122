"""Simulation state: population tables of NumPy columns, the geometry and the fields.

All cells of a kind live in one :class:`Table` (DESIGN.md, principle 1): one NumPy column per
attribute, rows reused through a free list, ids (uint64) never reused. The whole state is a set
of named arrays (:meth:`State.to_arrays`), which is what checkpoints store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class Table:
    """Columns of equal length with an ``alive`` mask; dead rows are reused lowest first.

    Parameters
    ----------
    schema
        Column name → dtype. ``id`` (uint64) and ``alive`` (bool) are added.
    capacity
        Initial number of rows.
    """

    def __init__(self, schema: dict[str, np.dtype | type], capacity: int = 64):
        self.schema = {"id": np.dtype(np.uint64), "alive": np.dtype(bool)}
        self.schema.update({name: np.dtype(dtype) for name, dtype in schema.items()})
        reserved = {"schema", "columns", "next_id"}  # the table's own instance attributes
        clashes = sorted(name for name in self.schema if name in reserved or hasattr(Table, name))
        if clashes:
            raise ValueError(f"column names {clashes} clash with Table attributes")
        self.columns: dict[str, np.ndarray] = {}
        for name, dtype in self.schema.items():
            self._set_column(name, np.zeros(capacity, dtype))
        self.next_id = 1

    def _set_column(self, name: str, array: np.ndarray) -> None:
        # each column is also an instance attribute (table.voxel is a plain lookup)
        self.columns[name] = array
        self.__dict__[name] = array

    @property
    def capacity(self) -> int:
        """Number of rows, alive or not."""
        return len(self.columns["id"])

    def rows(self) -> np.ndarray:
        """Indices of living rows, ascending."""
        return np.flatnonzero(self.columns["alive"])

    def count(self) -> int:
        """Number of living rows."""
        return int(np.count_nonzero(self.columns["alive"]))

    def add(self, n: int, **values: np.ndarray | float | int) -> np.ndarray:
        """Add ``n`` rows with fresh ids; unspecified columns are zero.

        Returns
        -------
        numpy.ndarray
            The rows used (lowest free rows first).
        """
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        free = np.flatnonzero(~self.columns["alive"])
        if len(free) < n:
            old = self.capacity
            new_capacity = max(2 * old, old + n - len(free) + 16)
            for name, column in self.columns.items():
                grown = np.zeros(new_capacity, dtype=column.dtype)
                grown[:old] = column
                self._set_column(name, grown)
            free = np.flatnonzero(~self.columns["alive"])
        rows = free[:n]
        for column in self.columns.values():
            column[rows] = 0
        self.columns["alive"][rows] = True
        self.columns["id"][rows] = np.arange(self.next_id, self.next_id + n, dtype=np.uint64)
        self.next_id += n
        for name, value in values.items():
            if name not in self.columns:
                raise KeyError(f"unknown column {name!r}")
            self.columns[name][rows] = value
        return rows

    def remove(self, rows: np.ndarray) -> None:
        """Mark rows dead (their ids are never reused)."""
        self.columns["alive"][rows] = False

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Columns as ``{prefix/name: array}`` plus ``prefix/next_id``."""
        arrays = {f"{prefix}/{name}": column.copy() for name, column in self.columns.items()}
        arrays[f"{prefix}/next_id"] = np.array(self.next_id, dtype=np.uint64)
        return arrays

    def load_arrays(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        """Restore from :meth:`to_arrays` output."""
        for name, dtype in self.schema.items():
            self._set_column(
                name, np.ascontiguousarray(arrays[f"{prefix}/{name}"], dtype=dtype).copy()
            )
        self.next_id = int(arrays[f"{prefix}/next_id"])


KERATINOCYTE_SCHEMA: dict[str, type] = {
    "state": np.uint8,  # vocab.KeratinocyteState
    "basal": bool,  # sits on the basement membrane
    "stem": bool,
    "column": np.int64,
    "stack_key": np.float64,  # order within the column's suprabasal stack (bottom = smallest)
    "height_um": np.float64,
    "z_bottom_um": np.float64,
    "birth_step": np.int64,
    "last_mitosis_step": np.int64,  # own last division, or the division that made it
    "divisions_left": np.int16,
    "in_fixed_phase": bool,  # committed to S/G2/M
    "in_g0": bool,  # born into G0: slow to leave it at rest
    "fixed_phase_left_h": np.float64,
    "maturation": np.float64,  # 0-1 spinous, 1-2 granular, ≥ 2 ready to cornify
    "maturation_speed": np.float64,  # individual factor, lognormal mean 1
    "parakeratotic": bool,
    "committed_step": np.int64,
}

CORNEOCYTE_SCHEMA: dict[str, type] = {
    "column": np.int64,
    "height_um": np.float64,
    "birth_step": np.int64,
    "entry_step": np.int64,
    "sc_age_days": np.float64,  # advanced by the shedding speed of its column
    "shed_after_days": np.float64,
    "parakeratotic": bool,
    "primary": bool,  # the entry in the cell's own column (statistics count cells once)
}

CAPILLARY_SCHEMA: dict[str, type] = {
    "voxel": np.int64,
    "column": np.int64,
    "dilation": np.float64,
}


IMMUNE_SCHEMA: dict[str, type] = {
    "type": np.uint8,  # vocab.CellType code (an immune type)
    "voxel": np.int64,
    "birth_step": np.int64,
    "type_step": np.int64,  # step at which the cell took its current type
    "netosis_left_h": np.float64,  # < 0: not committed to NETosis; else hours until the NET
    "il17a_bound_pg": np.float64,  # IL-17A captured from the tissue (released by its NET)
    "efferocytosis_recent": np.float64,  # cells/NETs cleared, decaying with a 1-day memory
}

NET_SCHEMA: dict[str, type] = {
    "voxel": np.int64,
    "birth_step": np.int64,
}


@dataclass
class EventLog:
    """Recent cell events used by readouts (kept for a window, oldest dropped)."""

    division_step: list[np.ndarray] = field(default_factory=list)
    division_interval_steps: list[np.ndarray] = field(default_factory=list)
    division_suprabasal: list[np.ndarray] = field(default_factory=list)
    production_step: list[np.ndarray] = field(default_factory=list)
    shed_step: list[np.ndarray] = field(default_factory=list)
    shed_age_steps: list[np.ndarray] = field(default_factory=list)

    NAMES = (
        "division_step",
        "division_interval_steps",
        "division_suprabasal",
        "production_step",
        "shed_step",
        "shed_age_steps",
    )

    def concatenated(self, name: str) -> np.ndarray:
        """All kept values of one log."""
        parts = getattr(self, name)
        if not parts:
            return np.zeros(0, dtype=np.int64 if name != "division_suprabasal" else bool)
        return np.concatenate(parts)

    def trim(self, oldest_step: int) -> None:
        """Drop events older than ``oldest_step`` (and merge the kept pieces)."""
        for stamp, others in (
            ("division_step", ("division_interval_steps", "division_suprabasal")),
            ("production_step", ()),
            ("shed_step", ("shed_age_steps",)),
        ):
            steps = self.concatenated(stamp)
            keep = steps >= oldest_step
            setattr(self, stamp, [steps[keep]])
            for other in others:
                setattr(self, other, [self.concatenated(other)[keep]])

    def to_arrays(self) -> dict[str, np.ndarray]:
        """For checkpoints."""
        return {f"events/{name}": self.concatenated(name) for name in self.NAMES}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore from :meth:`to_arrays` output."""
        for name in self.NAMES:
            setattr(self, name, [np.asarray(arrays[f"events/{name}"]).copy()])
