"""Lazy frame reader over run files for the replay app and the report.

:class:`FrameReader` opens a run file (see the HDF5 contract in ``DESIGN.md``) without reading
its frames: opening a file of any size costs the metadata, the time series and the event table
only. Each call reads the one frame (or the one 2-D slice of a 3-D frame) it is asked for.
Only complete frames are shown, so a run still being written, or one whose writer was killed,
opens up to its last complete frame; :meth:`FrameReader.refreshed` opens it again to see frames
written since.

Everything here is read from the file: lattice codes from the layers' ``codes`` attributes,
fields and their units from ``/fields``, time-series names from ``/timeseries``. Names the
viewer does not know (later readouts, new cell types) are shown with neutral defaults.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscabm import io as _io
from mscabm.vocab import CELL_TYPES, KeratinocyteState

__all__ = ["FieldInfo", "FrameReader", "SliceSpec", "open_reader"]

_KERATINOCYTE_STATES = {int(member): member.name.lower() for member in KeratinocyteState}
_CELL_CACHE_FRAMES = 4
_RANGE_SAMPLE_FRAMES = 64


@dataclass(frozen=True)
class SliceSpec:
    """Which 2-D plane of a frame to show.

    Parameters
    ----------
    axis : str or None
        ``None`` for a 2-D run (the whole (z, x) section); for a 3-D run the axis held fixed:
        ``"y"`` gives a (z, x) section, ``"x"`` a (z, y) section, ``"z"`` a horizontal (y, x)
        plane.
    index : int
        Position along `axis` (ignored for 2-D runs).
    """

    axis: str | None = None
    index: int = 0


@dataclass(frozen=True)
class FieldInfo:
    """One field of a run as the viewer shows it.

    Attributes
    ----------
    id : str
        Dataset name under ``/fields``.
    display_name : str
        Short label (``"IL-17A"``), the id when the file has none.
    units : str
        Units of the stored values (``"pg/mL"``), empty when the file has none.
    long_name : str
        Full name, the display name when the file has none.
    """

    id: str
    display_name: str
    units: str
    long_name: str


def open_reader(path: str | os.PathLike[str]) -> FrameReader:
    """Open a run file for replay (see :class:`FrameReader`).

    Parameters
    ----------
    path : str or os.PathLike
        The run file.

    Returns
    -------
    FrameReader
        The reader; no frame has been read yet.

    Raises
    ------
    mscabm.io.RunFileError
        If the file is missing, truncated, not an mscabm run file or written with a newer
        schema; the message names the file.
    """
    return FrameReader(path)


class FrameReader:
    """Read one frame at a time from an mscabm run file.

    Parameters
    ----------
    path : str or os.PathLike
        The run file.

    Raises
    ------
    mscabm.io.RunFileError
        If the file cannot be read as a run file (see :func:`open_reader`).

    Attributes
    ----------
    path : pathlib.Path
        The run file.
    attrs : dict
        Decoded root attributes (seed, scenario text, versions, status, ...).
    dims : tuple of str
        ``("z", "x")`` or ``("z", "y", "x")``.
    shape : tuple of int
        Lattice shape.
    voxel_um : float
        Voxel edge (µm).
    n_frames : int
        Number of complete frames.
    time_days : numpy.ndarray
        Time of each complete frame (days).
    fields : list of FieldInfo
        The run's fields, in file order.
    timeseries : pandas.DataFrame
        Scalar readouts indexed by ``time_days``.
    events : pandas.DataFrame
        Scheduled events (day, kind, target, amount, note).
    tissue_codes, mobile_codes : dict of int to str
        Names of the codes in ``/lattice/tissue`` and ``/lattice/mobile``.
    cell_type_names : dict of int to str
        Names of the cell-type codes of ``/cells/type``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._run = _io.open_run(self.path)
        run = self._run
        self.attrs: dict[str, Any] = dict(run.attrs)
        self.dims: tuple[str, ...] = tuple(run.tissue.dims[1:])
        self.shape: tuple[int, ...] = tuple(int(n) for n in run.tissue.shape[1:])
        self.voxel_um = float(self.attrs.get("voxel_um") or 1.0)
        self.n_frames = int(run.n_frames)
        self.time_days = np.asarray(run.time_days, dtype=np.float64)
        self.fields = [
            FieldInfo(
                id=str(field_id),
                display_name=str(variable.attrs.get("display_name") or field_id),
                units=str(variable.attrs.get("units") or ""),
                long_name=str(
                    variable.attrs.get("long_name") or variable.attrs.get("display_name") or ""
                ),
            )
            for field_id, variable in run.fields.data_vars.items()
        ]
        self.timeseries: pd.DataFrame = run.timeseries
        self.events: pd.DataFrame = run.events
        self.tissue_codes = _invert_codes(run.tissue.attrs.get("codes", {}))
        self.mobile_codes = _invert_codes(run.mobile.attrs.get("codes", {}))
        # names of the cell-type codes stored with /cells/type (this package's table for
        # files written before it was stored)
        stored_type_codes = run.cell_codes.get("type")
        self.cell_type_names = (
            _invert_codes(stored_type_codes) if stored_type_codes else dict(enumerate(CELL_TYPES))
        )
        self._cells: OrderedDict[int, pd.DataFrame] = OrderedDict()
        self._field_ranges: dict[tuple[str, bool], tuple[float, float]] = {}
        # the replay app serves requests in threads: the caches are shared between them
        self._cache_lock = threading.Lock()
        self._height_rows: int | None = None

    # -- description ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        shape = "x".join(str(n) for n in self.shape)
        return f"FrameReader({str(self.path)!r}, n_frames={self.n_frames}, lattice={shape})"

    @property
    def is_3d(self) -> bool:
        """Whether the run is a 3-D block (z, y, x)."""
        return len(self.dims) == 3

    @property
    def name(self) -> str:
        """A short label of the run: its scenario name and file name."""
        scenario = self.attrs.get("scenario_name")
        return f"{scenario} ({self.path.name})" if scenario else self.path.name

    def field_info(self, field_id: str) -> FieldInfo:
        """Describe one field.

        Parameters
        ----------
        field_id : str
            A field of this run.

        Returns
        -------
        FieldInfo
            Its display name, units and long name.

        Raises
        ------
        KeyError
            If the run has no such field; the message lists the run's fields.
        """
        for info in self.fields:
            if info.id == field_id:
                return info
        raise KeyError(
            f"{self.path}: no field {field_id!r}; this run has {[f.id for f in self.fields]}"
        )

    def frame_at_day(self, day: float) -> int | None:
        """Index of the last complete frame at or before `day` (None if `day` precedes all)."""
        position = int(np.searchsorted(self.time_days, day + 1e-9, side="right")) - 1
        return position if position >= 0 else None

    def default_slice(self) -> SliceSpec:
        """The plane shown first: the whole section in 2-D, the middle (z, x) plane in 3-D."""
        if not self.is_3d:
            return SliceSpec()
        return SliceSpec("y", self.shape[1] // 2)

    def plane_dims(self, plane: SliceSpec) -> tuple[str, str]:
        """Names of the (row, column) dimensions of a plane: rows are depth unless axis is z."""
        if not self.is_3d:
            return ("z", "x")
        return {"y": ("z", "x"), "x": ("z", "y"), "z": ("y", "x")}[self._checked_axis(plane)]

    def plane_shape(self, plane: SliceSpec) -> tuple[int, int]:
        """Shape (rows, columns) of a plane."""
        rows, columns = self.plane_dims(plane)
        return (self.shape[self.dims.index(rows)], self.shape[self.dims.index(columns)])

    def tissue_height_rows(self) -> int:
        """Depth rows worth showing: up to the highest non-air voxel, plus a margin.

        The lattice leaves room above the epidermis for it to thicken; that air is cropped
        from the maps. Taken from up to 16 evenly spaced frames (always the first and the
        last), with a margin of 15 % (at least 3 rows) for frames in between; computed once.
        """
        with self._cache_lock:
            if self._height_rows is not None:
                return self._height_rows
        n_depth = self.shape[0]
        air_codes = [code for code, name in self.tissue_codes.items() if name == "air"] or [0]
        top = 0
        if self.n_frames:
            frames = np.unique(np.linspace(0, self.n_frames - 1, min(self.n_frames, 16)).round())
            for frame in frames.astype(int):
                tissue = np.asarray(self._run.tissue.isel(time=int(frame)).values)
                occupied = ~np.isin(tissue, air_codes)
                rows = np.nonzero(occupied.reshape(n_depth, -1).any(axis=1))[0]
                if rows.size:
                    top = max(top, int(rows[-1]) + 1)
        shown = n_depth if top == 0 else min(n_depth, top + max(3, round(0.15 * top)))
        with self._cache_lock:
            self._height_rows = shown
        return shown

    def shown_shape(self, plane: SliceSpec) -> tuple[int, int]:
        """Shape (rows, columns) of a plane as the maps show it (air above the tissue cropped)."""
        rows, columns = self.plane_shape(plane)
        if self.plane_dims(plane)[0] == "z":
            rows = min(rows, self.tissue_height_rows())
        return rows, columns

    # -- frames -----------------------------------------------------------------------------------

    def _checked_frame(self, frame: int) -> int:
        index = int(frame)
        if not 0 <= index < self.n_frames:
            raise IndexError(
                f"{self.path}: frame {frame} out of range (the run has {self.n_frames} "
                "complete frames)"
            )
        return index

    def _checked_axis(self, plane: SliceSpec) -> str:
        if plane.axis not in ("z", "y", "x"):
            raise ValueError(
                f"{self.path}: a 3-D run needs a slice axis 'z', 'y' or 'x', got {plane.axis!r}"
            )
        return plane.axis

    def _selection(self, plane: SliceSpec) -> dict[str, int]:
        if not self.is_3d:
            return {}
        axis = self._checked_axis(plane)
        size = self.shape[self.dims.index(axis)]
        if not 0 <= plane.index < size:
            raise IndexError(f"{self.path}: slice {axis}={plane.index} outside 0..{size - 1}")
        return {axis: int(plane.index)}

    def _read(self, array: Any, frame: int, plane: SliceSpec) -> np.ndarray:
        selection = {"time": self._checked_frame(frame), **self._selection(plane)}
        values = array.isel(selection)
        rows, columns = self.plane_dims(plane)
        return np.asarray(values.transpose(rows, columns).values)

    def layer(self, name: str, frame: int, plane: SliceSpec | None = None) -> np.ndarray:
        """Read one lattice layer of one frame.

        Parameters
        ----------
        name : {"tissue", "mobile", "net"}
            The layer.
        frame : int
            Complete frame index.
        plane : SliceSpec, optional
            The plane of a 3-D run (default :meth:`default_slice`).

        Returns
        -------
        numpy.ndarray
            uint8 codes, shape :meth:`plane_shape`, row 0 the deepest (or the first y).
        """
        if name not in ("tissue", "mobile", "net"):
            raise ValueError(f"unknown lattice layer {name!r}; choose tissue, mobile or net")
        return self._read(getattr(self._run, name), frame, plane or self.default_slice())

    def field(self, field_id: str, frame: int, plane: SliceSpec | None = None) -> np.ndarray:
        """Read one field of one frame (float32, in the field's units).

        Parameters
        ----------
        field_id : str
            A field of this run (see :attr:`fields`).
        frame : int
            Complete frame index.
        plane : SliceSpec, optional
            The plane of a 3-D run (default :meth:`default_slice`).

        Returns
        -------
        numpy.ndarray
            Shape :meth:`plane_shape`.
        """
        self.field_info(field_id)
        return self._read(self._run.fields[field_id], frame, plane or self.default_slice())

    def field_range(self, field_id: str, *, positive: bool = False) -> tuple[float, float]:
        """Colour range of a field over the run (for a fixed colour scale).

        Computed once per field from up to 64 evenly spaced frames (every frame of shorter
        runs), then cached.

        Parameters
        ----------
        field_id : str
            A field of this run.
        positive : bool, default False
            Smallest value above zero instead of the minimum (for a log scale); (nan, nan) when
            no value is above zero.

        Returns
        -------
        (float, float)
            Lowest and highest value.
        """
        key = (field_id, positive)
        with self._cache_lock:
            if key in self._field_ranges:
                return self._field_ranges[key]
        self.field_info(field_id)
        frames = np.unique(
            np.linspace(0, self.n_frames - 1, min(self.n_frames, _RANGE_SAMPLE_FRAMES)).round()
        ).astype(int)
        low, high = np.inf, -np.inf
        variable = self._run.fields[field_id]
        for frame in frames:
            values = np.asarray(variable.isel(time=int(frame)).values)
            finite = values[np.isfinite(values)]
            if positive:
                finite = finite[finite > 0]
            if finite.size:
                low = min(low, float(finite.min()))
                high = max(high, float(finite.max()))
        found = (low, high) if low <= high else (np.nan, np.nan)
        with self._cache_lock:
            self._field_ranges[key] = found
        return found

    def cells(self, frame: int) -> pd.DataFrame:
        """The stored cells of one frame (a few recent frames are cached)."""
        index = self._checked_frame(frame)
        with self._cache_lock:
            if index in self._cells:
                self._cells.move_to_end(index)
                return self._cells[index]
        table = self._run.cells(index)
        with self._cache_lock:
            self._cells[index] = table
            while len(self._cells) > _CELL_CACHE_FRAMES:
                self._cells.popitem(last=False)
        return table

    # -- hover ------------------------------------------------------------------------------------

    def voxel_index(self, plane: SliceSpec, row: int, column: int) -> tuple[int, ...] | None:
        """Lattice index of a (row, column) position in a plane, or None outside the lattice."""
        rows, columns = self.plane_dims(plane)
        position = {rows: int(row), columns: int(column)}
        if self.is_3d:
            position[self._checked_axis(plane)] = int(plane.index)
        index = tuple(position[dim] for dim in self.dims)
        if any(not 0 <= i < n for i, n in zip(index, self.shape, strict=True)):
            return None
        return index

    def describe_voxel(self, frame: int, index: tuple[int, ...]) -> dict[str, Any]:
        """Everything stored about one voxel in one frame.

        Parameters
        ----------
        frame : int
            Complete frame index.
        index : tuple of int
            Lattice index (z, [y,] x).

        Returns
        -------
        dict
            ``position_um`` (voxel centre per dimension), ``tissue`` (type name), ``mobile``
            (top mobile occupant or None), ``net`` (bool), ``cells`` (list of ``{"id", "type",
            "state"}`` of the stored cells in the voxel) and ``fields`` (list of
            ``(display name, value, units)``).
        """
        frame = self._checked_frame(frame)
        selection = {"time": frame, **dict(zip(self.dims, index, strict=True))}
        run = self._run
        tissue = int(run.tissue.isel(selection).values)
        mobile = int(run.mobile.isel(selection).values)
        net = int(run.net.isel(selection).values)
        flat = int(np.ravel_multi_index(index, self.shape))
        cells = self.cells(frame)
        here = cells[cells["voxel"] == flat] if "voxel" in cells else cells.iloc[:0]
        described = []
        for row in here.itertuples(index=False):
            row_values = row._asdict()
            type_code = int(row_values.get("type", -1))
            type_name = self.cell_type_names.get(type_code)
            state_code = int(row_values.get("state", 0))
            state = (
                _KERATINOCYTE_STATES.get(state_code, str(state_code))
                if type_name == "keratinocyte"
                else (str(state_code) if state_code else "")
            )
            described.append(
                {
                    "id": int(row_values.get("cell_id", -1)),
                    "type": type_name or f"type {type_code}",
                    "state": state,
                }
            )
        values = []
        # one read per field: a single value each
        for info in self.fields:
            value = float(run.fields[info.id].isel(selection).values)
            values.append((info.display_name, value, info.units))
        return {
            "position_um": {
                dim: (i + 0.5) * self.voxel_um for dim, i in zip(self.dims, index, strict=True)
            },
            "tissue": self.tissue_codes.get(tissue, f"code {tissue}"),
            "mobile": None if mobile == 0 else self.mobile_codes.get(mobile, f"code {mobile}"),
            "net": bool(net),
            "cells": described,
            "fields": values,
        }

    # -- live runs --------------------------------------------------------------------------------

    def refreshed(self) -> FrameReader:
        """The same run opened again (to see frames a running simulation has written since)."""
        return FrameReader(self.path)


def _invert_codes(codes: Any) -> dict[int, str]:
    if not isinstance(codes, dict):
        return {}
    return {int(code): str(name) for name, code in codes.items()}
