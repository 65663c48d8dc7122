"""HDF5 run files and checkpoint sidecars.

One self-describing HDF5 file holds a whole run (schema in ``DESIGN.md``)::

    /                      root attributes: mscabm_version, schema_version, created (ISO 8601),
                           seed (uint64), scenario (resolved YAML text), git_commit, dims,
                           voxel_um, platform and build (JSON strings), and the caller's extras
    /time                  (F,) float64 days; extended LAST when a frame is written
    /lattice/tissue        (F, z, [y,] x) uint8 type codes, attr "codes" (JSON name -> code)
    /lattice/mobile        same shape: code of the highest-priority mobile occupant (0 = none)
    /lattice/net           same shape: NET mask (attr "codes" = {"none": 0, "net": 1})
    /lattice/sc_height_um  (F, [y,] x) float32 stratum-corneum height per column
    /fields/<id>           (F, z, [y,] x) float32, uncompressed, one chunk per frame, with HDF5
                           dimension scales time / z / [y /] x (``/fields/time`` is a hard link
                           to ``/time``; ``/fields/z`` etc. hold voxel-centre positions in µm)
    /cells/<column>        ragged per frame, gzip; /cells/frame_offsets (F + 1,) int64; a coded
                           column (``type``) has attr "codes" (JSON name -> code)
    /timeseries/<name>     (S,) float64 with /timeseries/time_days (extended LAST)
    /events                (E,) table: day, kind, target, amount, note

**Frame completeness.** A frame is complete when its index is below ``len(/time)``:
:meth:`RunWriter.write_frame` writes every frame dataset and the cells first, then extends
``/time`` and flushes. Readers (:func:`open_run`) show complete frames only, so a file left by a
writer killed at any moment (even with ``SIGKILL``) reads up to its last flushed frame.

**Concurrent reading (SWMR).** The writer creates every dataset up front and then switches on
HDF5 single-writer/multiple-reader mode, so :func:`open_run` can read a run while it is being
written (readers open with ``swmr=True`` and refresh datasets). SWMR needs POSIX ``write()``
semantics and does not work on NFS or Lustre; there the writer warns and falls back to plain
flushed writes, and the run can only be read once it is closed. On cluster file systems where
HDF5's file locking itself fails (``unable to lock file``), set the environment variable
``HDF5_USE_FILE_LOCKING=FALSE`` before starting Python.

Files are created with library-version bounds ``("v110", "latest")``: the lowest bound SWMR
allows, so any HDF5 >= 1.10 (h5py >= 2.10, netCDF-C built on it) can read them even when this
machine's HDF5 is newer.

**Checkpoints** are sidecar HDF5 files ``<run stem>.checkpoints/step_<step:010d>.h5`` beside the
run (never pickles): NumPy arrays as datasets plus a JSON metadata attribute. They are written to a
temporary name in the same directory, fsynced and renamed, so a kill never leaves a partial file
under a final name.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import sys
import sysconfig
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from mscabm._version import SCHEMA_VERSION, __version__

__all__ = [
    "FieldMeta",
    "RunData",
    "RunFileError",
    "RunWriter",
    "checkpoint_dir",
    "describe_run",
    "list_checkpoints",
    "load_checkpoint",
    "open_run",
    "save_checkpoint",
]

_LIBVER_BOUNDS = ("v110", "latest")
"""HDF5 library-version bounds of run files (v110 is the lowest bound SWMR accepts)."""

_SPATIAL_DIMS_2D = ("z", "x")
_SPATIAL_DIMS_3D = ("z", "y", "x")
_FIELD_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_COLUMN_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED_FIELD_IDS = frozenset({"time", "z", "y", "x"})
_WRITER_OWNED_ATTRS = frozenset(
    {"mscabm_version", "schema_version", "created", "dims", "voxel_um", "json_attrs", "file_kind"}
)
_NET_CODES = MappingProxyType({"none": 0, "net": 1})

_EVENT_KIND_BYTES = 64
_EVENT_TARGET_BYTES = 128
_EVENT_NOTE_BYTES = 1024
_EVENT_DTYPE = np.dtype(
    [
        ("day", "<f8"),
        ("kind", h5py.string_dtype("utf-8", _EVENT_KIND_BYTES)),
        ("target", h5py.string_dtype("utf-8", _EVENT_TARGET_BYTES)),
        ("amount", "<f8"),
        ("note", h5py.string_dtype("utf-8", _EVENT_NOTE_BYTES)),
    ]
)
"""Row type of ``/events``: fixed-length UTF-8 strings (variable-length data is not SWMR-safe)."""

_GZIP_LEVEL = 4
_CELL_CHUNK_ROWS = 16384
_SERIES_CHUNK_ROWS = 1024
_EVENT_CHUNK_ROWS = 64

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CHECKPOINT_NAME_PATTERN = re.compile(r"^step_(\d{10})\.h5$")
_FILE_KIND_RUN = "run"
_FILE_KIND_CHECKPOINT = "checkpoint"


class RunFileError(Exception):
    """A run or checkpoint file that cannot be read; the message names the file.

    Parameters
    ----------
    path : str or os.PathLike
        The file concerned.
    problem : str
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem

    def __reduce__(self) -> tuple[type[RunFileError], tuple[Path, str]]:
        return (type(self), (self.path, self.problem))


@dataclass(frozen=True)
class FieldMeta:
    """Description of one diffusing field as stored in the run file.

    Parameters
    ----------
    id : str
        ASCII snake_case identifier, e.g. ``"il17a"``; the dataset name under ``/fields``.
    units : str
        Concentration units, e.g. ``"pg/mL"``.
    long_name : str
        Full name, e.g. ``"interleukin-17A"``.
    display_name : str
        Short label for plots, e.g. ``"IL-17A"``.
    diffusion_um2_per_min : float
        Diffusion coefficient in tissue (µm²/min).
    half_life_min : float
        Half-life in tissue (minutes).
    """

    id: str
    units: str
    long_name: str
    display_name: str
    diffusion_um2_per_min: float
    half_life_min: float


# ---------------------------------------------------------------------------------------------
# attribute encoding


def _json_default(value: Any) -> Any:
    """Convert NumPy scalars and arrays for :func:`json.dumps` (integers stay exact)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def _encode_attr(name: str, value: Any) -> tuple[Any, bool]:
    """Return the HDF5 representation of an attribute value and whether it is JSON text."""
    if isinstance(value, bool | np.bool_):
        return np.bool_(value), False
    if isinstance(value, int | np.integer):
        number = int(value)
        if name == "seed":
            if not 0 <= number < 2**64:
                raise ValueError(f"seed must be an integer in [0, 2**64), got {number}")
            return np.uint64(number), False
        if -(2**63) <= number < 2**63:
            return np.int64(number), False
        if 0 <= number < 2**64:
            return np.uint64(number), False
        raise ValueError(f"attribute {name!r}: integer {number} does not fit in 64 bits")
    if isinstance(value, float | np.floating):
        return np.float64(value), False
    if isinstance(value, str):
        return value, False
    if isinstance(value, bytes):
        return value.decode("utf-8"), False
    if isinstance(value, Mapping | list | tuple):
        return _to_json(value), True
    if isinstance(value, np.ndarray):
        if h5py.check_string_dtype(value.dtype) is not None:
            return value, False
        if value.dtype.kind in "US":
            return np.array([str(item) for item in value.ravel()], dtype=h5py.string_dtype()), False
        if value.dtype.kind in "biuf":
            return value, False
    raise TypeError(
        f"attribute {name!r}: cannot store a {type(value).__name__}; use str, int, float, bool, "
        "a numeric array, or a dict/list (stored as JSON)"
    )


def _decode_attr(value: Any) -> Any:
    """Turn an h5py attribute value into plain Python (str, int, float, bool, list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O" or value.dtype.kind == "S":
            return [_decode_attr(item) for item in value.tolist()]
        return value
    return value


def _decode_root_attrs(attrs: h5py.AttributeManager) -> dict[str, Any]:
    decoded = {name: _decode_attr(attrs[name]) for name in attrs}
    json_names = json.loads(decoded.pop("json_attrs", "[]"))
    for name in json_names:
        if name in decoded:
            decoded[name] = json.loads(decoded[name])
    if "dims" in decoded:
        decoded["dims"] = tuple(decoded["dims"])
    return decoded


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _default_platform() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "byteorder": sys.byteorder,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
    }


def _default_build() -> dict[str, Any]:
    return {
        "cython": _package_version("Cython"),
        "cc": sysconfig.get_config_var("CC"),
        "cflags": sysconfig.get_config_var("CFLAGS"),
        "python_build": list(platform.python_build()),
        "compiler": platform.python_compiler(),
    }


# ---------------------------------------------------------------------------------------------
# HDF5 superblock status flags (what `h5clear -s` does), for resuming after a killed writer


def _rotate_left(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & 0xFFFFFFFF


def _lookup3_mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    mask = 0xFFFFFFFF
    a = ((a - c) & mask) ^ _rotate_left(c, 4)
    c = (c + b) & mask
    b = ((b - a) & mask) ^ _rotate_left(a, 6)
    a = (a + c) & mask
    c = ((c - b) & mask) ^ _rotate_left(b, 8)
    b = (b + a) & mask
    a = ((a - c) & mask) ^ _rotate_left(c, 16)
    c = (c + b) & mask
    b = ((b - a) & mask) ^ _rotate_left(a, 19)
    a = (a + c) & mask
    c = ((c - b) & mask) ^ _rotate_left(b, 4)
    b = (b + a) & mask
    return a, b, c


def _lookup3_final(a: int, b: int, c: int) -> int:
    mask = 0xFFFFFFFF
    c = ((c ^ b) - _rotate_left(b, 14)) & mask
    a = ((a ^ c) - _rotate_left(c, 11)) & mask
    b = ((b ^ a) - _rotate_left(a, 25)) & mask
    c = ((c ^ b) - _rotate_left(b, 16)) & mask
    a = ((a ^ c) - _rotate_left(c, 4)) & mask
    b = ((b ^ a) - _rotate_left(a, 14)) & mask
    c = ((c ^ b) - _rotate_left(b, 24)) & mask
    return c


def _lookup3_checksum(data: bytes) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (initial value 0): HDF5's metadata checksum."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length) & 0xFFFFFFFF
    position = 0
    while length - position > 12:
        a = (a + int.from_bytes(data[position : position + 4], "little")) & 0xFFFFFFFF
        b = (b + int.from_bytes(data[position + 4 : position + 8], "little")) & 0xFFFFFFFF
        c = (c + int.from_bytes(data[position + 8 : position + 12], "little")) & 0xFFFFFFFF
        a, b, c = _lookup3_mix(a, b, c)
        position += 12
    tail = data[position:]
    if not tail:
        return c
    tail = tail + bytes(12 - len(tail))
    a = (a + int.from_bytes(tail[0:4], "little")) & 0xFFFFFFFF
    b = (b + int.from_bytes(tail[4:8], "little")) & 0xFFFFFFFF
    c = (c + int.from_bytes(tail[8:12], "little")) & 0xFFFFFFFF
    return _lookup3_final(a, b, c)


def _find_superblock(handle: Any) -> int | None:
    """Offset of the HDF5 superblock in an open binary file (0, 512, 1024, ...), or None."""
    size = handle.seek(0, os.SEEK_END)
    base = 0
    while base + len(_HDF5_SIGNATURE) <= size:
        handle.seek(base)
        if handle.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
            return base
        base = 512 if base == 0 else base * 2
    return None


def _superblock_status_flags(path: Path) -> int:
    """Read the superblock's file-consistency flags (non-zero while a writer has it open).

    A writer killed before closing leaves them set. Superblocks before version 2 (files not
    written by mscabm) have no flags; 0 is returned for them.
    """
    with path.open("rb") as handle:
        base = _find_superblock(handle)
        if base is None:
            return 0
        handle.seek(base)
        head = handle.read(12)
        return head[11] if len(head) == 12 and head[8] >= 2 else 0


def _clear_superblock_status_flags(path: Path) -> bool:
    """Clear the "open for write / SWMR write" flags a killed writer leaves in the superblock.

    Only superblock versions 2 and 3 carry the flags. The stored checksum is verified before
    anything is written, so a file this code does not understand is never modified.

    Returns
    -------
    bool
        Whether the flags were set (and are now cleared).
    """
    with path.open("r+b") as handle:
        base = _find_superblock(handle)
        if base is None:
            raise RunFileError(path, "no HDF5 superblock found")
        handle.seek(base)
        head = handle.read(12)
        version, offset_size = head[8], head[9]
        if version < 2:
            return False
        checked_length = 12 + 4 * offset_size
        handle.seek(base)
        block = bytearray(handle.read(checked_length + 4))
        stored_checksum = int.from_bytes(block[checked_length:], "little")
        if _lookup3_checksum(bytes(block[:checked_length])) != stored_checksum:
            raise RunFileError(path, "HDF5 superblock checksum mismatch; the file is damaged")
        if block[11] == 0:
            return False
        block[11] = 0
        block[checked_length:] = _lookup3_checksum(bytes(block[:checked_length])).to_bytes(
            4, "little"
        )
        handle.seek(base)
        handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
        return True


# ---------------------------------------------------------------------------------------------
# writer


def _validate_dims(
    dims: Sequence[str], shape: Sequence[int]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    dims = tuple(dims)
    if dims not in (_SPATIAL_DIMS_2D, _SPATIAL_DIMS_3D):
        raise ValueError(f"dims must be {_SPATIAL_DIMS_2D} or {_SPATIAL_DIMS_3D}, got {dims}")
    shape = tuple(int(n) for n in shape)
    if len(shape) != len(dims) or any(n < 1 for n in shape):
        raise ValueError(f"shape must be {len(dims)} positive sizes for dims {dims}, got {shape}")
    return dims, shape


def _check_names(
    kind: str, names: Sequence[str], pattern: re.Pattern[str], reserved: frozenset[str]
) -> None:
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not pattern.fullmatch(name):
            raise ValueError(f"{kind} name {name!r} must match {pattern.pattern}")
        if name in reserved:
            raise ValueError(f"{kind} name {name!r} is reserved ({sorted(reserved)})")
        if name in seen:
            raise ValueError(f"{kind} name {name!r} is given twice")
        seen.add(name)


def _as_uint8_layer(name: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != shape:
        raise ValueError(f"{name}: shape {array.shape} does not match the lattice shape {shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "biu":
        raise ValueError(f"{name}: expected integer type codes (uint8), got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"{name}: type codes must lie in 0..255")
    return array.astype(np.uint8)


def _event_text(column: str, value: Any, limit: int, *, truncate: bool) -> bytes:
    encoded = str(value).encode("utf-8")
    if len(encoded) <= limit:
        return encoded
    if not truncate:
        raise ValueError(f"event {column} {value!r} is longer than {limit} bytes of UTF-8")
    ellipsis = "…".encode()
    cut = encoded[: limit - len(ellipsis)]
    return cut.decode("utf-8", errors="ignore").encode("utf-8") + ellipsis


class RunWriter:
    """Append frames, time series and events to one HDF5 run file.

    Every dataset is created when the writer is constructed; then SWMR mode is switched on so the
    run can be read while it is written (see the module documentation). Each frame becomes
    visible to readers only once :meth:`write_frame` has extended ``/time``.

    Parameters
    ----------
    path : str or os.PathLike
        File to create.
    attrs : dict
        Root attributes. ``seed`` (int in [0, 2**64), stored as uint64) and ``scenario`` (the
        resolved scenario as YAML text) are required; ``git_commit`` is stored when not None;
        ``platform`` and ``build`` (dicts, stored as JSON strings) are filled in from this
        interpreter when absent. Other keys are stored too: dicts and lists as JSON text, which
        :func:`open_run` decodes again. ``mscabm_version``, ``schema_version``, ``created``,
        ``dims`` and ``voxel_um`` are set by the writer and may not be given.
    dims : tuple of str
        ``("z", "x")`` or ``("z", "y", "x")``; axis 0 is depth, index 0 the deepest dermis.
    shape : tuple of int
        Lattice shape, one size per dimension.
    voxel_um : float
        Voxel edge length (µm).
    fields : sequence of FieldMeta
        The diffusing fields, in display order.
    lattice_codes : dict of str to int
        Cell-type codes used in the tissue and mobile layers (0..255).
    timeseries_names : sequence of str
        Names of the scalar time series (see the table in ``DESIGN.md``).
    cell_columns : dict of str to numpy.dtype
        Per-cell columns stored for every frame (e.g. ``cell_id`` uint64, ``type`` uint8).
    cell_codes : dict of str to dict of str to int, optional
        For coded cell columns, their name -> code table (stored as the column's ``codes``
        attribute, e.g. ``{"type": {"keratinocyte": 0, ...}}``).
    overwrite : bool, default False
        Replace an existing file instead of raising :class:`FileExistsError`.

    Raises
    ------
    FileExistsError
        If `path` exists and `overwrite` is false.
    ValueError
        If a name, shape or attribute is invalid.

    Warns
    -----
    RuntimeWarning
        If SWMR mode cannot be switched on (e.g. on NFS); the writer then uses plain flushed
        writes and the file can only be read after it is closed.

    Examples
    --------
    >>> with RunWriter("run.h5", attrs={"seed": 1, "scenario": "x: 1"},  # doctest: +SKIP
    ...                dims=("z", "x"), shape=(60, 100), voxel_um=10.0, fields=[],
    ...                lattice_codes={"none": 0}, timeseries_names=["score_total"],
    ...                cell_columns={}) as writer:
    ...     writer.write_frame(0.0, tissue=..., mobile=..., net=..., sc_height_um=...,
    ...                        fields={}, cells={})
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        attrs: Mapping[str, Any],
        dims: tuple[str, ...],
        shape: tuple[int, ...],
        voxel_um: float,
        fields: Sequence[FieldMeta],
        lattice_codes: Mapping[str, int],
        timeseries_names: Sequence[str],
        cell_columns: Mapping[str, np.dtype | type | str],
        cell_codes: Mapping[str, Mapping[str, int]] | None = None,
        overwrite: bool = False,
    ) -> None:
        path = Path(path)
        dims, shape = _validate_dims(dims, shape)
        voxel_um = float(voxel_um)
        if not math.isfinite(voxel_um) or voxel_um <= 0:
            raise ValueError(f"voxel_um must be a positive number, got {voxel_um}")
        fields = tuple(fields)
        _check_names("field", [meta.id for meta in fields], _FIELD_ID_PATTERN, _RESERVED_FIELD_IDS)
        timeseries_names = tuple(timeseries_names)
        _check_names(
            "time-series", timeseries_names, _COLUMN_NAME_PATTERN, frozenset({"time_days"})
        )
        column_dtypes = {name: np.dtype(dtype) for name, dtype in cell_columns.items()}
        _check_names(
            "cell column", list(column_dtypes), _COLUMN_NAME_PATTERN, frozenset({"frame_offsets"})
        )
        for name, dtype in column_dtypes.items():
            if dtype.kind not in "biuf":
                raise ValueError(f"cell column {name!r}: dtype {dtype} is not numeric")
        cell_codes = {
            name: {str(key): int(code) for key, code in codes.items()}
            for name, codes in (cell_codes or {}).items()
        }
        for name, table in cell_codes.items():
            if name not in column_dtypes or column_dtypes[name].kind not in "iu":
                raise ValueError(f"cell_codes: {name!r} is not an integer cell column")
            limits = np.iinfo(column_dtypes[name])
            if any(not limits.min <= code <= limits.max for code in table.values()):
                raise ValueError(
                    f"cell_codes[{name!r}] must fit {column_dtypes[name]}, got {table}"
                )
        codes = {str(name): int(code) for name, code in lattice_codes.items()}
        if any(not 0 <= code <= 255 for code in codes.values()):
            raise ValueError(f"lattice codes must lie in 0..255, got {codes}")
        root_attrs = self._root_attrs(attrs, dims, voxel_um)

        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a directory, not a run file")
        if path.exists() and overwrite and not _holds_a_run(path):
            raise FileExistsError(
                f"{path}: exists and is not an mscabm run file; overwriting replaces only run "
                "files (choose another output)"
            )
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"{path}: run file already exists; refusing to overwrite it "
                "(--force on the command line; force=True for mscabm.run and mscabm.fork, "
                "overwrite=True for RunWriter)"
            )
        try:
            file = h5py.File(path, "w" if overwrite else "w-", libver=_LIBVER_BOUNDS)
        except FileExistsError as exc:
            raise FileExistsError(
                f"{path}: run file already exists; refusing to overwrite it"
            ) from exc
        try:
            self._create_layout(
                file,
                root_attrs,
                dims,
                shape,
                voxel_um,
                fields,
                codes,
                timeseries_names,
                column_dtypes,
                cell_codes,
            )
            file.flush()
        except BaseException:
            file.close()
            path.unlink(missing_ok=True)
            raise
        self._bind(path, file)
        self._start_swmr()

    # -- construction helpers ------------------------------------------------------------------

    @staticmethod
    def _root_attrs(
        attrs: Mapping[str, Any], dims: tuple[str, ...], voxel_um: float
    ) -> dict[str, Any]:
        given = dict(attrs)
        owned = sorted(_WRITER_OWNED_ATTRS & set(given))
        if owned:
            raise ValueError(f"attrs {owned} are set by RunWriter itself; do not pass them")
        missing = [name for name in ("seed", "scenario") if given.get(name) is None]
        if missing:
            raise ValueError(f"attrs must include {missing} (the run file records them)")
        if not isinstance(given["scenario"], str):
            raise ValueError("attrs['scenario'] must be the resolved scenario as YAML text")
        given.setdefault("platform", _default_platform())
        given.setdefault("build", _default_build())
        return {
            "mscabm_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "file_kind": _FILE_KIND_RUN,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "dims": np.array(dims, dtype=h5py.string_dtype()),
            "voxel_um": voxel_um,
            **{name: value for name, value in given.items() if value is not None},
        }

    @staticmethod
    def _create_layout(
        file: h5py.File,
        root_attrs: dict[str, Any],
        dims: tuple[str, ...],
        shape: tuple[int, ...],
        voxel_um: float,
        fields: tuple[FieldMeta, ...],
        codes: dict[str, int],
        timeseries_names: tuple[str, ...],
        column_dtypes: dict[str, np.dtype],
        cell_codes: dict[str, dict[str, int]],
    ) -> None:
        json_names = []
        for name, value in root_attrs.items():
            stored, is_json = _encode_attr(name, value)
            file.attrs[name] = stored
            if is_json:
                json_names.append(name)
        file.attrs["json_attrs"] = _to_json(json_names)

        def frames(
            name: str, frame_shape: tuple[int, ...], dtype: str, **options: Any
        ) -> h5py.Dataset:
            return file.create_dataset(
                name,
                shape=(0, *frame_shape),
                maxshape=(None, *frame_shape),
                dtype=dtype,
                chunks=(1, *frame_shape),
                **options,
            )

        def series(
            group: h5py.Group, name: str, dtype: Any, chunk_rows: int, **options: Any
        ) -> h5py.Dataset:
            return group.create_dataset(
                name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk_rows,), **options
            )

        time_scale = series(file, "time", "f8", _SERIES_CHUNK_ROWS)
        time_scale.attrs["units"] = "days"
        time_scale.attrs["long_name"] = "simulated time"
        time_scale.make_scale("time")

        lattice = file.create_group("lattice")
        for name, layer_codes, long_name in (
            ("tissue", codes, "resident cell type code"),
            ("mobile", codes, "type code of the highest-priority mobile occupant"),
            ("net", _NET_CODES, "neutrophil extracellular trap mask"),
        ):
            layer = frames(
                f"lattice/{name}", shape, "u1", compression="gzip", compression_opts=_GZIP_LEVEL
            )
            layer.attrs["codes"] = _to_json(dict(layer_codes))
            layer.attrs["long_name"] = long_name
        height = frames("lattice/sc_height_um", shape[1:], "f4")
        height.attrs["units"] = "um"
        height.attrs["long_name"] = "stratum corneum height per column"
        lattice.attrs["dims"] = np.array(dims, dtype=h5py.string_dtype())

        field_group = file.create_group("fields")
        field_group.attrs["field_ids"] = _to_json([meta.id for meta in fields])
        # A hard link: the same dataset as /time, so netCDF readers of the group see the scale.
        field_group["time"] = time_scale
        scales = [time_scale]
        for axis, dim in enumerate(dims):
            coordinate = field_group.create_dataset(
                dim, data=(np.arange(shape[axis]) + 0.5) * voxel_um
            )
            coordinate.attrs["units"] = "um"
            coordinate.attrs["long_name"] = (
                "height above the deepest dermis (voxel centre)"
                if dim == "z"
                else f"{dim} position (voxel centre)"
            )
            coordinate.make_scale(dim)
            scales.append(coordinate)
        for meta in fields:
            dataset = frames(f"fields/{meta.id}", shape, "f4")
            dataset.attrs["units"] = meta.units
            dataset.attrs["long_name"] = meta.long_name
            dataset.attrs["display_name"] = meta.display_name
            dataset.attrs["diffusion_um2_per_min"] = float(meta.diffusion_um2_per_min)
            dataset.attrs["half_life_min"] = float(meta.half_life_min)
            for axis, scale in enumerate(scales):
                dataset.dims[axis].attach_scale(scale)
                dataset.dims[axis].label = ("time", *dims)[axis]

        cells = file.create_group("cells")
        cells.attrs["columns"] = _to_json(list(column_dtypes))
        for name, dtype in column_dtypes.items():
            series(
                cells,
                name,
                dtype,
                _CELL_CHUNK_ROWS,
                compression="gzip",
                compression_opts=_GZIP_LEVEL,
                shuffle=True,
            )
            if name in cell_codes:
                cells[name].attrs["codes"] = _to_json(cell_codes[name])
        offsets = series(cells, "frame_offsets", "i8", _SERIES_CHUNK_ROWS)
        offsets.resize((1,))
        offsets[0] = 0

        timeseries = file.create_group("timeseries")
        timeseries.attrs["names"] = _to_json(list(timeseries_names))
        time_days = series(timeseries, "time_days", "f8", _SERIES_CHUNK_ROWS)
        time_days.attrs["units"] = "days"
        time_days.make_scale("time_days")
        for name in timeseries_names:
            series(timeseries, name, "f8", _SERIES_CHUNK_ROWS, fillvalue=np.nan).dims[
                0
            ].attach_scale(time_days)

        series(file, "events", _EVENT_DTYPE, _EVENT_CHUNK_ROWS)

    def _bind(self, path: Path, file: h5py.File) -> None:
        """Read the layout back from an open file: the file is the single source of truth."""
        self._path = path
        self._file = file
        self._dims = tuple(_decode_attr(file.attrs["dims"]))
        self._shape = tuple(file["lattice/tissue"].shape[1:])
        self._field_ids = tuple(json.loads(file["fields"].attrs["field_ids"]))
        self._column_dtypes = {
            name: file["cells"][name].dtype for name in json.loads(file["cells"].attrs["columns"])
        }
        self._timeseries_names = tuple(json.loads(file["timeseries"].attrs["names"]))
        self._n_frames = int(file["time"].shape[0])
        self._n_cell_rows = int(file["cells/frame_offsets"][self._n_frames])
        self._n_timeseries = int(file["timeseries/time_days"].shape[0])
        self._n_events = int(file["events"].shape[0])
        self._last_time = float(file["time"][self._n_frames - 1]) if self._n_frames else -math.inf
        self._swmr = False

    def _start_swmr(self) -> None:
        try:
            self._file.swmr_mode = True
        except (OSError, ValueError, RuntimeError) as exc:
            warnings.warn(
                f"{self._path}: could not switch on HDF5 SWMR mode ({exc}); writing with plain "
                "flushed writes instead, so the run cannot be read until it is closed",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            self._swmr = True

    @classmethod
    def reopen_for_resume(
        cls,
        path: str | os.PathLike[str],
        *,
        n_frames: int,
        n_timeseries: int,
        n_events: int,
        attrs: Mapping[str, Any] | None = None,
        belongs_to: Mapping[str, Any] | None = None,
    ) -> RunWriter:
        """Reopen an existing run to continue it from a checkpoint.

        ``/time``, the frame datasets, ``/cells``, ``/timeseries`` and ``/events`` are cut back
        to the given lengths (the frames after the checkpoint are written again), then SWMR is
        switched on again. A file left by a killed writer has its "open for write" superblock
        flags cleared first (as ``h5clear -s`` would); the caller must make sure that writer is
        really gone.

        Parameters
        ----------
        path : str or os.PathLike
            The run file.
        n_frames, n_timeseries, n_events : int
            Lengths to keep, as recorded in the checkpoint (see :attr:`n_frames` etc.).
        attrs : dict, optional
            Root attributes to set before SWMR starts (e.g. ``{"resumed_at_step": 1200}``).
        belongs_to : dict, optional
            Root attributes the file must hold (the checkpoint's ``seed`` and ``scenario``):
            checkpoints of another run that share the name would otherwise cut this file
            back. Checked before anything is cut.

        Returns
        -------
        RunWriter
            A writer appending after the kept data.

        Raises
        ------
        RunFileError
            If the file cannot be opened for writing, holds fewer entries than requested or
            differs from ``belongs_to``.
        """
        path = Path(path)
        _check_run_file_exists(path)
        try:
            file = h5py.File(path, "r+", libver=_LIBVER_BOUNDS)
        except OSError as first_error:
            if "already open for write" not in str(first_error):
                raise RunFileError(path, f"cannot open for writing: {first_error}") from first_error
            _clear_superblock_status_flags(path)
            try:
                file = h5py.File(path, "r+", libver=_LIBVER_BOUNDS)
            except OSError as exc:
                raise RunFileError(path, f"cannot open for writing: {exc}") from exc
        writer = cls.__new__(cls)
        try:
            _check_schema(path, file)
            for name, wanted in (belongs_to or {}).items():
                held = file.attrs.get(name)
                if isinstance(held, bytes):
                    held = held.decode()
                if isinstance(wanted, int) and held is not None:
                    held = int(held)
                if held != wanted:
                    raise RunFileError(
                        path,
                        f"the checkpoints in {checkpoint_dir(path)} belong to another run (its "
                        f"{name} differs from this file's); resuming would cut this file back "
                        "to them. Resume the run they belong to, or remove them.",
                    )
            complete_frames = _count_complete_frames(file)
            complete_samples = _count_complete_samples(file)
            available = {
                "n_frames": (n_frames, complete_frames),
                "n_timeseries": (n_timeseries, complete_samples),
                "n_events": (n_events, int(file["events"].shape[0])),
            }
            for name, (wanted, present) in available.items():
                if not 0 <= int(wanted) <= present:
                    raise RunFileError(
                        path, f"cannot resume with {name}={wanted}: the file holds {present}"
                    )
            offsets = file["cells/frame_offsets"]
            kept_cells = int(offsets[n_frames])
            for name in [
                "time",
                "lattice/tissue",
                "lattice/mobile",
                "lattice/net",
                "lattice/sc_height_um",
            ]:
                file[name].resize(n_frames, axis=0)
            for field_id in json.loads(file["fields"].attrs["field_ids"]):
                file["fields"][field_id].resize(n_frames, axis=0)
            offsets.resize((n_frames + 1,))
            for name in json.loads(file["cells"].attrs["columns"]):
                file["cells"][name].resize((kept_cells,))
            timeseries = file["timeseries"]
            for name in ["time_days", *json.loads(timeseries.attrs["names"])]:
                timeseries[name].resize((n_timeseries,))
            file["events"].resize((n_events,))
            writer._bind(path, file)
            for name, value in (attrs or {}).items():
                writer.set_attr(name, value)
            file.flush()
        except BaseException:
            file.close()
            raise
        writer._start_swmr()
        return writer

    # -- properties ----------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """Path of the run file."""
        return self._path

    @property
    def n_frames(self) -> int:
        """Number of complete frames written so far."""
        return self._n_frames

    @property
    def n_timeseries(self) -> int:
        """Number of time-series samples written so far."""
        return self._n_timeseries

    @property
    def n_events(self) -> int:
        """Number of event rows written so far."""
        return self._n_events

    @property
    def swmr(self) -> bool:
        """Whether SWMR mode is on (readers can open the file while it is written)."""
        return self._swmr

    @property
    def closed(self) -> bool:
        """Whether the writer has been closed."""
        return not self._file.id.valid

    # -- writing -------------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.closed:
            raise ValueError(f"{self._path}: the run writer is closed")

    def write_frame(
        self,
        time_days: float,
        *,
        tissue: np.ndarray,
        mobile: np.ndarray,
        net: np.ndarray,
        sc_height_um: np.ndarray,
        fields: Mapping[str, np.ndarray],
        cells: Mapping[str, np.ndarray],
    ) -> int:
        """Append one frame; it becomes visible to readers when ``/time`` is extended (last).

        Parameters
        ----------
        time_days : float
            Simulated time of the frame; must increase from frame to frame.
        tissue, mobile, net : numpy.ndarray
            Lattice layers shaped like the lattice, type codes 0..255 (stored as uint8).
        sc_height_um : numpy.ndarray
            Stratum-corneum height per column, shaped like the lattice without its depth axis.
        fields : dict of str to numpy.ndarray
            Every field of the run, shaped like the lattice (float64 in, float32 stored).
        cells : dict of str to numpy.ndarray
            Every cell column: 1-D arrays of one common length (the cells alive in this frame).

        Returns
        -------
        int
            Index of the frame written.

        Raises
        ------
        ValueError
            If an array has the wrong shape or type, a field or column is missing or unknown, or
            time does not increase. Nothing is written in that case.
        """
        self._require_open()
        time_days = float(time_days)
        if not math.isfinite(time_days) or time_days <= self._last_time:
            raise ValueError(
                f"frame time {time_days} must be finite and later than the previous "
                f"frame ({self._last_time})"
            )
        layers = {
            "tissue": _as_uint8_layer("tissue", tissue, self._shape),
            "mobile": _as_uint8_layer("mobile", mobile, self._shape),
            "net": _as_uint8_layer("net", net, self._shape),
        }
        height = np.asarray(sc_height_um, dtype=np.float32)
        if height.shape != self._shape[1:]:
            raise ValueError(f"sc_height_um: shape {height.shape} does not match {self._shape[1:]}")
        field_values = self._checked_fields(fields)
        cell_values, n_cells = self._checked_cells(cells)

        index = self._n_frames
        for name, layer in layers.items():
            self._put_frame(f"lattice/{name}", index, layer)
        self._put_frame("lattice/sc_height_um", index, height)
        for field_id, values in field_values.items():
            self._put_frame(f"fields/{field_id}", index, values)
        start = self._n_cell_rows
        for name, values in cell_values.items():
            dataset = self._file["cells"][name]
            dataset.resize((start + n_cells,))
            if n_cells:
                dataset[start : start + n_cells] = values
        offsets = self._file["cells/frame_offsets"]
        offsets.resize((index + 2,))
        offsets[index + 1] = start + n_cells
        self._commit_frame(index, time_days)
        self._n_frames = index + 1
        self._n_cell_rows = start + n_cells
        self._last_time = time_days
        return index

    def _put_frame(self, name: str, index: int, values: np.ndarray) -> None:
        dataset = self._file[name]
        dataset.resize(index + 1, axis=0)
        dataset[index] = values

    def _commit_frame(self, index: int, time_days: float) -> None:
        """Extend ``/time`` (the completeness marker) and flush."""
        time_dataset = self._file["time"]
        time_dataset.resize((index + 1,))
        time_dataset[index] = time_days
        self._file.flush()

    def _checked_fields(self, fields: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [field_id for field_id in self._field_ids if field_id not in fields]
        unknown = [field_id for field_id in fields if field_id not in self._field_ids]
        if missing or unknown:
            raise ValueError(
                f"fields: missing {missing}, unknown {unknown}; "
                f"this run has {list(self._field_ids)}"
            )
        checked = {}
        for field_id in self._field_ids:
            values = np.asarray(fields[field_id])
            if values.shape != self._shape:
                raise ValueError(
                    f"field {field_id!r}: shape {values.shape} does not match {self._shape}"
                )
            if values.dtype.kind not in "biuf":
                raise ValueError(f"field {field_id!r}: dtype {values.dtype} is not numeric")
            checked[field_id] = values.astype(np.float32)
        return checked

    def _checked_cells(self, cells: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        missing = [name for name in self._column_dtypes if name not in cells]
        unknown = [name for name in cells if name not in self._column_dtypes]
        if missing or unknown:
            raise ValueError(
                f"cells: missing columns {missing}, unknown {unknown}; "
                f"this run has {list(self._column_dtypes)}"
            )
        checked = {}
        lengths = set()
        for name, dtype in self._column_dtypes.items():
            values = np.asarray(cells[name])
            if values.ndim != 1:
                raise ValueError(f"cell column {name!r} must be 1-D, got shape {values.shape}")
            if values.size and not np.can_cast(values.dtype, dtype, casting="same_kind"):
                raise ValueError(f"cell column {name!r}: cannot store {values.dtype} as {dtype}")
            checked[name] = values.astype(dtype, copy=False)
            lengths.add(values.shape[0])
        if len(lengths) > 1:
            raise ValueError(f"cell columns differ in length: {sorted(lengths)}")
        return checked, (lengths.pop() if lengths else 0)

    def append_timeseries(self, time_days: float, values: Mapping[str, float]) -> None:
        """Append one time-series sample.

        Names not given are stored as NaN. ``/timeseries/time_days`` is extended last, so a sample
        is complete when its index is below its length. Not flushed by itself: samples become
        visible to readers at the next :meth:`write_frame`, :meth:`flush` or :meth:`close`.

        Parameters
        ----------
        time_days : float
            Simulated time of the sample.
        values : dict of str to float
            Values by time-series name.

        Raises
        ------
        ValueError
            If a name was not declared when the file was created.
        """
        self._require_open()
        unknown = [name for name in values if name not in self._timeseries_names]
        if unknown:
            raise ValueError(
                f"unknown time-series names {unknown}; this run has {list(self._timeseries_names)}"
            )
        index = self._n_timeseries
        group = self._file["timeseries"]
        for name in self._timeseries_names:
            dataset = group[name]
            dataset.resize((index + 1,))
            dataset[index] = float(values[name]) if name in values else math.nan
        time_days_dataset = group["time_days"]
        time_days_dataset.resize((index + 1,))
        time_days_dataset[index] = float(time_days)
        self._n_timeseries = index + 1

    def append_events(self, rows: Sequence[tuple[float, str, str, float, str]]) -> None:
        """Append event rows and flush.

        Parameters
        ----------
        rows : sequence of tuple
            ``(day, kind, target, amount, note)`` per event. ``kind`` may hold up to 64 and
            ``target`` up to 128 bytes of UTF-8; a ``note`` longer than 1024 bytes is cut
            and ends in "…".

        Raises
        ------
        ValueError
            If a row does not have five entries or ``kind``/``target`` is too long.
        """
        self._require_open()
        table = np.zeros(len(rows), dtype=_EVENT_DTYPE)
        for position, row in enumerate(rows):
            if len(row) != 5:
                raise ValueError(f"event row {row!r} must be (day, kind, target, amount, note)")
            day, kind, target, amount, note = row
            table[position] = (
                float(day),
                _event_text("kind", kind, _EVENT_KIND_BYTES, truncate=False),
                _event_text("target", target, _EVENT_TARGET_BYTES, truncate=False),
                float(amount),
                _event_text("note", note, _EVENT_NOTE_BYTES, truncate=True),
            )
        if not len(table):
            return
        events = self._file["events"]
        start = self._n_events
        events.resize((start + len(table),))
        events[start:] = table
        self._n_events = start + len(table)
        self._file.flush()

    def set_attr(self, name: str, value: Any) -> None:
        """Set a root attribute, e.g. the final ``status`` of the run.

        Values are encoded as in the constructor (dicts and lists as JSON text). Readers that are
        already open see the change when they open the file again.

        Parameters
        ----------
        name : str
            Attribute name; the writer-owned names (``schema_version`` etc.) are refused.
        value : object
            str, int, float, bool, numeric array, dict or list.
        """
        self._require_open()
        if name in _WRITER_OWNED_ATTRS:
            raise ValueError(f"attribute {name!r} is set by RunWriter itself")
        stored, is_json = _encode_attr(name, value)
        json_names = json.loads(_decode_attr(self._file.attrs["json_attrs"]))
        if is_json != (name in json_names):
            json_names = [n for n in json_names if n != name] + ([name] if is_json else [])
            self._file.attrs["json_attrs"] = _to_json(json_names)
        self._file.attrs[name] = stored

    def flush(self) -> None:
        """Write buffered data to disk so readers can see it."""
        self._require_open()
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if not self.closed:
            self._file.flush()
            self._file.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._n_frames} frames"
        return f"RunWriter({str(self._path)!r}, {state})"


# ---------------------------------------------------------------------------------------------
# reader


def _check_run_file_exists(path: Path) -> None:
    if not path.exists():
        raise RunFileError(path, "no such file")
    if path.is_dir():
        raise RunFileError(path, "is a directory, not a run file")
    if not h5py.is_hdf5(path):
        raise RunFileError(path, "not an HDF5 file")


def _open_for_reading(path: Path) -> h5py.File:
    """Open an HDF5 file read-only, as an SWMR reader when a writer has it open (or was killed).

    A plain open comes first because only it checks the file's length against its superblock;
    an SWMR open would read a truncated file without complaint. A file whose superblock says
    a writer has it open (a live writer, or one that was killed) is opened as an SWMR reader:
    its recorded end of file may legitimately run ahead of the bytes on disk. A closed file that
    is shorter than its superblock says is reported as truncated, after a few short retries
    (a writer that is just closing passes through such a state).
    """
    _check_run_file_exists(path)
    attempts = 4
    for attempt in range(attempts):
        try:
            return h5py.File(path, "r")
        except OSError as plain_error:
            message = str(plain_error)
            if "truncated" in message and not _superblock_status_flags(path):
                if attempt + 1 < attempts:
                    time.sleep(0.025 * (attempt + 1))
                    continue
                raise RunFileError(
                    path,
                    "the file is truncated (cut off, e.g. by a full disk or an interrupted "
                    f"copy): {message}",
                ) from plain_error
            try:
                return h5py.File(path, "r", swmr=True)
            except OSError as swmr_error:
                raise RunFileError(
                    path, f"cannot be opened: {message}; as SWMR reader: {swmr_error}"
                ) from swmr_error
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[h5py.File]:
    file = _open_for_reading(path)
    try:
        yield file
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise RunFileError(
            path, f"unreadable ({type(exc).__name__}: {exc}); the file may be damaged"
        ) from exc
    finally:
        file.close()


def _dataset(file: h5py.File, name: str) -> h5py.Dataset:
    dataset = file[name]
    if file.swmr_mode:
        dataset.refresh()
    return dataset


def _holds_a_run(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file that an mscabm run wrote (complete or not)."""
    try:
        if not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r", locking=False) as file:
            return _not_a_run(file) is None
    except OSError:  # e.g. left open for writing by a killed run: still that run's file
        return h5py.is_hdf5(path)


def _not_a_run(file: h5py.File) -> str | None:
    """Why ``file`` is not an mscabm run file (no schema, another kind), or None if it is one."""
    if "schema_version" not in file.attrs:
        return "not an mscabm run file (no 'schema_version' attribute)"
    kind = _decode_attr(file.attrs.get("file_kind", _FILE_KIND_RUN))
    if kind != _FILE_KIND_RUN:
        return f"is an mscabm {kind} file, not a run file"
    return None


def _check_schema(path: Path, file: h5py.File) -> None:
    problem = _not_a_run(file)
    if problem is not None:
        raise RunFileError(path, problem)
    version = int(_decode_attr(file.attrs["schema_version"]))
    if version > SCHEMA_VERSION:
        raise RunFileError(
            path,
            f"written with run-file schema {version}, newer than this mscabm {__version__} reads "
            f"(schema {SCHEMA_VERSION}); upgrade mscabm",
        )
    for name in (
        "time",
        "lattice/tissue",
        "fields",
        "cells/frame_offsets",
        "timeseries/time_days",
        "events",
    ):
        if name not in file:
            raise RunFileError(path, f"incomplete mscabm run file: /{name} is missing")


def _frame_dataset_names(file: h5py.File) -> list[str]:
    names = ["lattice/tissue", "lattice/mobile", "lattice/net", "lattice/sc_height_um"]
    names += [f"fields/{field_id}" for field_id in json.loads(file["fields"].attrs["field_ids"])]
    return names


def _count_complete_frames(file: h5py.File) -> int:
    """Frames below ``len(/time)`` whose data are all present (guards SWMR visibility order)."""
    lengths = [_dataset(file, "time").shape[0], _dataset(file, "cells/frame_offsets").shape[0] - 1]
    lengths += [_dataset(file, name).shape[0] for name in _frame_dataset_names(file)]
    return max(0, min(lengths))


def _count_complete_samples(file: h5py.File) -> int:
    return int(_dataset(file, "timeseries/time_days").shape[0])


class _FrameArray(BackendArray):
    """Frames of one dataset read on access: opens the file for each read, keeps no handle."""

    def __init__(self, path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path = path
        self.name = name
        self.shape = shape
        self.dtype = dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._read
        )

    def _read(self, key: tuple[Any, ...]) -> np.ndarray:
        with _reading(self.path) as file:
            return np.asarray(_dataset(file, self.name)[key])


def _lazy_frames(
    path: Path, file: h5py.File, name: str, n_frames: int
) -> indexing.LazilyIndexedArray:
    dataset = file[name]
    backend = _FrameArray(path, name, (n_frames, *dataset.shape[1:]), dataset.dtype)
    return indexing.LazilyIndexedArray(backend)


@dataclass(repr=False)
class RunData:
    """A run file opened for analysis: complete frames only, large arrays read on access.

    Frame arrays (``fields``, ``tissue``, ``mobile``, ``net``, ``sc_height_um``) are lazy xarray
    objects: nothing is read until values are needed, and then only the frames selected
    (``run.fields["il17a"].isel(time=-1).values`` reads one frame). Each read opens the file
    briefly, so no handle or lock is held between reads and a writer may keep appending; call
    ``.load()`` to read a whole array into memory once. Time series, events and cell offsets are
    read when the run is opened.

    Attributes
    ----------
    path : pathlib.Path
        The run file.
    attrs : dict
        Root attributes, decoded: ``seed`` as int, ``dims`` as a tuple, ``platform`` and
        ``build`` as dicts, ``scenario`` as YAML text.
    fields : xarray.Dataset
        One variable per field, dims ``("time", "z", ["y",] "x")``; coordinates ``time`` (days)
        and ``z``/``y``/``x`` (µm at voxel centres); variable attrs units, long_name, ...
    timeseries : pandas.DataFrame
        Index ``time_days``, one column per time-series name.
    events : pandas.DataFrame
        Columns day, kind, target, amount, note.
    tissue, mobile, net : xarray.DataArray
        Lattice layers (time, z, [y,] x) uint8; attr ``codes`` maps names to codes.
    sc_height_um : xarray.DataArray
        Stratum-corneum height (time, [y,] x) in µm.
    n_frames : int
        Number of complete frames.
    cell_codes : dict of str to dict of str to int
        For coded cell columns (``type``), the name -> code table stored with the column
        (empty for files written before the tables were stored).
    """

    path: Path
    attrs: dict[str, Any]
    fields: xr.Dataset
    timeseries: pd.DataFrame
    events: pd.DataFrame
    tissue: xr.DataArray
    mobile: xr.DataArray
    net: xr.DataArray
    sc_height_um: xr.DataArray
    n_frames: int
    cell_offsets: np.ndarray = field(repr=False)
    cell_columns: tuple[str, ...] = field(repr=False)
    cell_codes: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        shape = "x".join(str(n) for n in self.tissue.shape[1:])
        return (
            f"RunData({str(self.path)!r}, n_frames={self.n_frames}, lattice={shape}, "
            f"fields={list(self.fields.data_vars)}, "
            f"timeseries={len(self.timeseries.columns)} names)"
        )

    @property
    def time_days(self) -> np.ndarray:
        """Times of the complete frames (days)."""
        return self.fields["time"].values

    def cells(self, frame: int) -> pd.DataFrame:
        """Read the cells of one frame.

        Parameters
        ----------
        frame : int
            Frame index; negative values count from the last complete frame.

        Returns
        -------
        pandas.DataFrame
            One row per cell, one column per stored cell column (stored dtypes).

        Raises
        ------
        IndexError
            If the frame is not a complete frame of this run.
        """
        index = int(frame) + (self.n_frames if frame < 0 else 0)
        if not 0 <= index < self.n_frames:
            raise IndexError(
                f"{self.path}: frame {frame} out of range (the run has {self.n_frames} frames)"
            )
        start, stop = int(self.cell_offsets[index]), int(self.cell_offsets[index + 1])
        with _reading(self.path) as file:
            columns = {
                name: _dataset(file, f"cells/{name}")[start:stop] for name in self.cell_columns
            }
        return pd.DataFrame(columns)

    def reopened(self) -> RunData:
        """Open the file again, e.g. to see frames a running writer has added since."""
        return open_run(self.path)


def open_run(path: str | os.PathLike[str]) -> RunData:
    """Open a run file for analysis.

    Works on a finished run, on one still being written (as an SWMR reader) and on one left by a
    killed writer; only complete frames (index below ``len(/time)``) are shown.

    Parameters
    ----------
    path : str or os.PathLike
        The run file.

    Returns
    -------
    RunData
        The run, with frame arrays read on access.

    Raises
    ------
    RunFileError
        If the file is missing, not HDF5, not an mscabm run, written with a newer schema, or
        truncated or damaged.

    Examples
    --------
    >>> run = open_run("runs/psoriasis.h5")  # doctest: +SKIP
    >>> run.fields["il17a"].isel(time=-1).mean().item()  # doctest: +SKIP
    >>> run.timeseries["score_total"].plot()  # doctest: +SKIP
    """
    path = Path(path)
    with _reading(path) as file:
        _check_schema(path, file)
        return _load_run(path, file)


def _load_run(path: Path, file: h5py.File) -> RunData:
    attrs = _decode_root_attrs(file.attrs)
    dims = tuple(attrs["dims"])
    n_frames = _count_complete_frames(file)
    frame_times = _dataset(file, "time")[:n_frames]

    coords: dict[str, xr.Variable] = {
        "time": xr.Variable("time", frame_times, {"units": "days", "long_name": "simulated time"})
    }
    for dim in dims:
        coordinate = file["fields"][dim]
        coords[dim] = xr.Variable(
            dim,
            coordinate[()],
            {
                key: _decode_attr(value)
                for key, value in coordinate.attrs.items()
                if key in ("units", "long_name")
            },
        )
    frame_dims = ("time", *dims)

    def frame_array(
        name: str, dims_of_array: tuple[str, ...], extra_attrs: dict[str, Any]
    ) -> xr.DataArray:
        dataset = file[name]
        attrs_of_array = {
            key: _decode_attr(value)
            for key, value in dataset.attrs.items()
            if key not in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "codes")
        }
        attrs_of_array.update(extra_attrs)
        variable = xr.Variable(
            dims_of_array, _lazy_frames(path, file, name, n_frames), attrs_of_array
        )
        return xr.DataArray(
            variable, coords={d: coords[d] for d in dims_of_array}, name=name.rsplit("/", 1)[-1]
        )

    field_ids = json.loads(file["fields"].attrs["field_ids"])
    fields = xr.Dataset(
        {field_id: frame_array(f"fields/{field_id}", frame_dims, {}) for field_id in field_ids},
        coords=coords,
        attrs={"voxel_um": attrs.get("voxel_um"), "source": str(path)},
    )
    layers = {
        name: frame_array(
            f"lattice/{name}",
            frame_dims,
            {"codes": json.loads(file[f"lattice/{name}"].attrs["codes"])},
        )
        for name in ("tissue", "mobile", "net")
    }
    height = frame_array("lattice/sc_height_um", ("time", *dims[1:]), {})

    n_samples = _count_complete_samples(file)
    group = file["timeseries"]
    series = {}
    for name in json.loads(group.attrs["names"]):
        values = _dataset(file, f"timeseries/{name}")[:n_samples]
        if values.shape[0] < n_samples:  # not yet visible to an SWMR reader
            values = np.concatenate([values, np.full(n_samples - values.shape[0], np.nan)])
        series[name] = values
    index = pd.Index(_dataset(file, "timeseries/time_days")[:n_samples], name="time_days")
    timeseries = pd.DataFrame(series, index=index)

    table = _dataset(file, "events")[()]
    events = pd.DataFrame(
        {
            "day": table["day"].astype(np.float64),
            "kind": [value.decode("utf-8") for value in table["kind"]],
            "target": [value.decode("utf-8") for value in table["target"]],
            "amount": table["amount"].astype(np.float64),
            "note": [value.decode("utf-8") for value in table["note"]],
        },
        columns=["day", "kind", "target", "amount", "note"],
    )
    cell_offsets = _dataset(file, "cells/frame_offsets")[: n_frames + 1].astype(np.int64)
    cell_columns = tuple(json.loads(file["cells"].attrs["columns"]))
    cell_codes = {
        name: {str(key): int(code) for key, code in json.loads(codes).items()}
        for name in cell_columns
        if (codes := file["cells"][name].attrs.get("codes")) is not None
    }
    return RunData(
        path=path,
        attrs=attrs,
        fields=fields,
        timeseries=timeseries,
        events=events,
        tissue=layers["tissue"],
        mobile=layers["mobile"],
        net=layers["net"],
        sc_height_um=height,
        n_frames=n_frames,
        cell_offsets=cell_offsets,
        cell_columns=cell_columns,
        cell_codes=cell_codes,
    )


def describe_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Summarise a run file without reading its frames (what ``mscabm info`` prints).

    Parameters
    ----------
    path : str or os.PathLike
        The run file.

    Returns
    -------
    dict
        Keys: ``path``, ``mscabm_version``, ``schema_version``, ``created``, ``seed``,
        ``git_commit``, ``status``, ``dims``, ``shape``, ``voxel_um``, ``n_frames``,
        ``days`` (first and last frame time, or None), ``fields`` (list of dicts with id,
        display_name, units), ``timeseries`` (name -> value of the last sample),
        ``n_timeseries_samples``, ``n_events``, ``n_cells_last_frame``, ``checkpoints``
        (list of ``{"step", "path"}``), ``platform``, ``build`` and ``attrs`` (all other root
        attributes except the scenario text, which is summarised as ``scenario_lines``).

    Raises
    ------
    RunFileError
        As :func:`open_run`.
    """
    run = open_run(path)
    attrs = dict(run.attrs)
    main_keys = (
        "mscabm_version",
        "schema_version",
        "created",
        "seed",
        "git_commit",
        "status",
        "dims",
        "voxel_um",
        "platform",
        "build",
    )
    scenario = attrs.pop("scenario", "")
    summary: dict[str, Any] = {"path": str(run.path)}
    summary.update({key: attrs.pop(key, None) for key in main_keys})
    summary["shape"] = tuple(run.tissue.shape[1:])
    summary["n_frames"] = run.n_frames
    times = run.time_days
    summary["days"] = (float(times[0]), float(times[-1])) if run.n_frames else None
    summary["fields"] = [
        {
            "id": field_id,
            "display_name": variable.attrs.get("display_name"),
            "units": variable.attrs.get("units"),
        }
        for field_id, variable in run.fields.data_vars.items()
    ]
    last = run.timeseries.iloc[-1] if len(run.timeseries) else None
    summary["timeseries"] = {
        name: (float(last[name]) if last is not None else None) for name in run.timeseries.columns
    }
    summary["n_timeseries_samples"] = len(run.timeseries)
    summary["n_events"] = len(run.events)
    summary["n_cells_last_frame"] = (
        int(run.cell_offsets[-1] - run.cell_offsets[-2]) if run.n_frames else None
    )
    summary["checkpoints"] = [
        {"step": step, "path": str(file)} for step, file in list_checkpoints(run.path)
    ]
    summary["scenario_lines"] = len(scenario.splitlines())
    summary["attrs"] = attrs
    return summary


# ---------------------------------------------------------------------------------------------
# checkpoints


def checkpoint_dir(run_path: str | os.PathLike[str]) -> Path:
    """Directory of a run's checkpoints: ``<run stem>.checkpoints/`` beside the run.

    A trailing ``.partial`` (a sweep's in-progress name) is ignored, so ``run.h5.partial`` and
    ``run.h5`` share ``run.checkpoints/``.

    Parameters
    ----------
    run_path : str or os.PathLike
        The run file.

    Returns
    -------
    pathlib.Path
        The checkpoint directory (not created).
    """
    run_path = Path(run_path)
    name = run_path.name.removesuffix(".partial")
    return run_path.parent / f"{Path(name).stem}.checkpoints"


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def save_checkpoint(
    run_path: str | os.PathLike[str],
    step: int,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
) -> Path:
    """Write a checkpoint of a run atomically.

    Parameters
    ----------
    run_path : str or os.PathLike
        The run file the checkpoint belongs to.
    step : int
        Simulation step (>= 0); the file is ``step_<step:010d>.h5``.
    arrays : dict of str to numpy.ndarray
        Numeric or boolean arrays of any shape (0-d included), stored as datasets with their
        dtypes. Names may contain ``/`` to form groups (``"cells/id"``).
    meta : dict
        JSON-compatible metadata (nested dicts, lists, str, int, float, bool, None; NumPy
        scalars are converted). Integers are exact at any size (uint64 seeds); tuples come back
        as lists and dict keys as strings.

    Returns
    -------
    pathlib.Path
        The checkpoint file.

    Raises
    ------
    TypeError
        If an array is not numeric or boolean, or `meta` is not JSON-compatible.
    """
    step = int(step)
    if step < 0:
        raise ValueError(f"checkpoint step must be >= 0, got {step}")
    meta_text = json.dumps(dict(meta), default=_json_default)
    prepared = {}
    for name, values in arrays.items():
        array = np.asarray(values)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"checkpoint array {name!r}: dtype {array.dtype} is not numeric or boolean"
            )
        if (
            not name
            or name.startswith("/")
            or any(part in ("", ".", "..") for part in name.split("/"))
        ):
            raise ValueError(f"checkpoint array name {name!r} is not a valid relative HDF5 path")
        prepared[name] = array
    directory = checkpoint_dir(run_path)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step_{step:010d}.h5"
    descriptor, temporary_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=".tmp", dir=directory
    )
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        with h5py.File(temporary, "w") as file:
            file.attrs["mscabm_version"] = __version__
            file.attrs["schema_version"] = np.int64(SCHEMA_VERSION)
            file.attrs["file_kind"] = _FILE_KIND_CHECKPOINT
            file.attrs["step"] = np.int64(step)
            file.attrs["run"] = Path(run_path).name
            file.attrs["meta"] = meta_text
            for name, array in prepared.items():
                file.create_dataset(name, data=array)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return final


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        The arrays with their stored dtypes and shapes (0-d arrays stay 0-d).
    meta : dict
        The metadata.

    Raises
    ------
    RunFileError
        If the file is missing, not HDF5 or not an mscabm checkpoint, or was written with a
        newer schema.
    """
    path = Path(path)
    _check_run_file_exists(path)
    with _reading(path) as file:
        if (
            _decode_attr(file.attrs.get("file_kind", "")) != _FILE_KIND_CHECKPOINT
            or "meta" not in file.attrs
        ):
            raise RunFileError(path, "not an mscabm checkpoint file")
        version = int(_decode_attr(file.attrs["schema_version"]))
        if version > SCHEMA_VERSION:
            raise RunFileError(
                path, f"written with schema {version}, newer than {SCHEMA_VERSION}; upgrade mscabm"
            )
        meta = json.loads(_decode_attr(file.attrs["meta"]))
        arrays: dict[str, np.ndarray] = {}

        def collect(name: str, item: h5py.Dataset | h5py.Group) -> None:
            if isinstance(item, h5py.Dataset):
                arrays[name] = np.asarray(item[()])

        file.visititems(collect)
    return arrays, meta


def list_checkpoints(run_path: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """List a run's checkpoints, oldest step first.

    Temporary files of an interrupted :func:`save_checkpoint` are ignored.

    Parameters
    ----------
    run_path : str or os.PathLike
        The run file.

    Returns
    -------
    list of (int, pathlib.Path)
        Step and file of each checkpoint, sorted by step.
    """
    directory = checkpoint_dir(run_path)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = _CHECKPOINT_NAME_PATTERN.fullmatch(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)
