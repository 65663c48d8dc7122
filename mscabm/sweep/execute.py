"""Running one row: the function executors send to workers, and metric extraction.

:func:`run_row` never raises for a failing simulation: it returns a result with
``status="failed"`` and the error text, so one bad row cannot stop a sweep. The run is written to
``<name>.h5.partial`` and renamed to ``<name>.h5`` only when it completed, so a retried row
(its worker died) never leaves a half file under the final name; the retry overwrites its own
partial file. A run that raised keeps its ``.partial`` file for diagnosis (the table's
``run_file`` names it) until the row runs again. Each attempt appends one line to
``attempts.log`` in the sweep directory (row id, worker, process id, time), which is how a
sweep knows that a row ran more than once.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mscabm.sweep.spec import Metric

__all__ = ["extract_metrics", "run_row", "worker_name"]

#: Sweep-directory files and folders.
ATTEMPTS_LOG = "attempts.log"
RUNS_DIR = "runs"


def worker_name() -> str:
    """The Dask worker's name (address) when inside one, else ``host:pid``."""
    try:
        from distributed import get_worker

        worker = get_worker()
        return f"{worker.name}@{worker.address}"
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _log_attempt(sweep_dir: Path, row_id: str, worker: str) -> None:
    line = json.dumps(
        {"row_id": row_id, "worker": worker, "pid": os.getpid(), "started": time.time()}
    )
    # one short O_APPEND write per attempt: lines from concurrent workers do not interleave
    fd = os.open(sweep_dir / ATTEMPTS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def run_file_name(row: Mapping[str, Any]) -> str:
    """The run file of a row under ``runs/``: row index and row id."""
    return f"row{int(row['index']):06d}_{row['row_id']}.h5"


def _final_path(path: Path) -> Path:
    """``path``, or ``path`` with ``_2``, ``_3``... when a file of that name exists already."""
    candidate, counter = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{counter}{path.suffix}")
        counter += 1
    return candidate


def run_row(
    row: Mapping[str, Any],
    sweep_dir: str,
    metrics: list[Mapping[str, Any]],
    keep_run: bool = True,
) -> dict[str, Any]:
    """Run one row and return its result record (never raises for a failed simulation).

    Parameters
    ----------
    row
        The row as a mapping (``index``, ``row_id``, ``scenario``, ``overrides``, ``seed``,
        ``days``).
    sweep_dir
        The sweep's output directory (shared by the workers).
    metrics
        Metric definitions (fields of :class:`~mscabm.sweep.spec.Metric`).
    keep_run
        Keep the HDF5 run file (else it is deleted after the metrics are read).

    Returns
    -------
    dict
        ``row_id``, ``status`` (``done`` or ``failed``), ``error``, ``wall_time_s``,
        ``worker``, ``run_file``, ``started``, ``finished`` and one entry per metric.
    """
    from mscabm import runner

    directory = Path(sweep_dir)
    worker = worker_name()
    _log_attempt(directory, str(row["row_id"]), worker)
    started = time.time()
    t0 = time.perf_counter()
    metric_specs = [Metric(**m) for m in metrics]
    result: dict[str, Any] = {
        "row_id": row["row_id"],
        "status": "failed",
        "error": "",
        "worker": worker,
        "run_file": "",
        "started": started,
    }
    result.update({m.name: float("nan") for m in metric_specs})
    final = directory / RUNS_DIR / run_file_name(row)
    partial = final.with_name(final.name + ".partial")
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        # a partial file is always this row's own earlier, unfinished attempt, possibly cut
        # off before it became a run file (which --force alone would refuse to replace)
        partial.unlink(missing_ok=True)
        runner.run(
            row["scenario"],
            output=partial,
            seed=int(row["seed"]),
            days=row.get("days"),
            overrides=list(row["overrides"]),
            force=True,  # replaces the checkpoints of that attempt, if it wrote any
        )
        result.update(extract_metrics(partial, metric_specs))
        if keep_run:
            final = _final_path(final)
            os.replace(partial, final)
            result["run_file"] = str(final.relative_to(directory))
        else:
            partial.unlink()
        result["status"] = "done"
    except Exception as exc:  # a failing run is a result, not a crash
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=20)
        if partial.exists():  # what the failed run wrote, kept for diagnosis under .partial
            result["run_file"] = str(partial.relative_to(directory))
    result["wall_time_s"] = time.perf_counter() - t0
    result["finished"] = time.time()
    return result


def extract_metrics(path: str | Path, metrics: list[Metric]) -> dict[str, float]:
    """Summary numbers of a run file's ``/timeseries``.

    Parameters
    ----------
    path
        A run file (complete).
    metrics
        What to take.

    Returns
    -------
    dict
        Metric name → value (float64 exactly as stored; NaN where the window is empty).

    Raises
    ------
    ValueError
        When a series is missing from the file or a requested day was not sampled.
    """
    import h5py

    out: dict[str, float] = {}
    with h5py.File(path, "r") as file:
        group = file["timeseries"]
        days = np.asarray(group["time_days"][:], dtype=np.float64)
        for metric in metrics:
            if metric.series not in group:
                names = json.loads(group.attrs["names"])
                raise ValueError(
                    f"{path}: no time series {metric.series!r} (has: {', '.join(names)})"
                )
            values = np.asarray(group[metric.series][: days.size], dtype=np.float64)
            out[metric.name] = _reduce(metric, days, values, path)
    return out


def _reduce(metric: Metric, days: np.ndarray, values: np.ndarray, path: Any) -> float:
    if days.size == 0:
        return float("nan")
    if metric.day is not None:
        nearest = int(np.argmin(np.abs(days - metric.day)))
        spacing = float(np.median(np.diff(days))) if days.size > 1 else 0.0
        if abs(days[nearest] - metric.day) > 0.5 * spacing + 1e-9:
            raise ValueError(
                f"{path}: metric {metric.name}: day {metric.day:g} was not sampled "
                f"(samples from day {days[0]:g} to {days[-1]:g})"
            )
        return float(values[nearest])
    lo = -np.inf if metric.from_day is None else metric.from_day - 1e-9
    hi = np.inf if metric.to_day is None else metric.to_day + 1e-9
    window = values[(days >= lo) & (days <= hi)]
    if window.size == 0:
        return float("nan")
    if metric.reduce == "last":
        return float(window[-1])
    finite = window[np.isfinite(window)]
    if finite.size == 0:
        return float("nan")
    return float({"max": np.max, "min": np.min, "mean": np.mean}[metric.reduce](finite))
