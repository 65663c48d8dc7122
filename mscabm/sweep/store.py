"""The sweep directory: per-row part files and the consolidated results table.

Layout of ``DIR``::

    sweep.yaml              copy of the sweep file (an earlier, different copy is kept with a
                            time stamp, never overwritten)
    rows.csv                the rows of the current sweep (index, point, replicate, seed, ...)
    parts/<row_id>-<t>.json one file per finished attempt of a row, written atomically the
                            moment the row finishes (an interrupted sweep keeps what finished)
    attempts.log            one line per start of a row on a worker
    runs/row<index>_<row_id>.h5   run files (``.h5.partial`` while running)
    results.parquet, results.csv  the tidy table, consolidated from the part files

Resume reads the part files: a row whose latest part says ``done`` is skipped. Part files are
never deleted or overwritten; with ``--rerun-all`` a newer part supersedes the older one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mscabm.sweep.execute import ATTEMPTS_LOG
from mscabm.sweep.spec import Row, SweepSpec

__all__ = ["SweepStore"]

PARTS_DIR = "parts"
RESULT_COLUMNS = (
    "status",
    "error",
    "wall_time_s",
    "worker",
    "run_file",
    "attempts",
    "row_id",
    "started",
    "finished",
)


class SweepStore:
    """The files of one sweep directory.

    Parameters
    ----------
    directory
        The sweep's output directory (created when missing).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.parts = self.directory / PARTS_DIR

    def prepare(self, spec: SweepSpec, rows: list[Row]) -> None:
        """Create the directory, copy the sweep file and write ``rows.csv``.

        Parameters
        ----------
        spec
            The sweep.
        rows
            Its rows.
        """
        self.parts.mkdir(parents=True, exist_ok=True)
        copy = self.directory / "sweep.yaml"
        if copy.exists() and copy.read_text(encoding="utf-8") != spec.text:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            os.replace(copy, self.directory / f"sweep.{stamp}.yaml")
        _atomic_write(copy, spec.text)
        manifest = {
            "name": spec.name,
            "sweep_file": str(spec.path),
            "scenario": spec.scenario,
            "sampler": spec.sampler,
            "design": spec.design,
            "parameters": [
                {"path": p.path, "low": p.low, "high": p.high, "log": p.log}
                for p in spec.parameters
            ],
            "metrics": [m.name for m in spec.metrics],
            "replicates": spec.replicates,
            "root_entropy": str(spec.root_entropy),
            "seeds": [str(s) for s in spec.seeds()],
            "n_points": (rows[-1].point + 1) if rows else 0,
        }
        if spec.sampler in ("random", "latin", "morris", "sobol"):
            manifest["unit_design"] = spec.design_matrix().tolist()
        _atomic_write(self.directory / "sweep.json", json.dumps(manifest, indent=1))
        lines = ["index,point,replicate,seed,row_id,overrides"]
        lines += [
            f'{r.index},{r.point},{r.replicate},{r.seed},{r.row_id},"{" ".join(r.overrides)}"'
            for r in rows
        ]
        _atomic_write(self.directory / "rows.csv", "\n".join(lines) + "\n")

    def save_part(self, result: Mapping[str, Any]) -> Path:
        """Write one finished row's result at once (temporary name, then rename).

        Parameters
        ----------
        result
            The result record (must hold ``row_id``).

        Returns
        -------
        pathlib.Path
            The part file.
        """
        self.parts.mkdir(parents=True, exist_ok=True)
        stamp = f"{time.time_ns():020d}"
        path = self.parts / f"{result['row_id']}-{stamp}.json"
        _atomic_write(path, json.dumps(_jsonable(result), allow_nan=True))
        return path

    def latest_parts(self) -> dict[str, dict[str, Any]]:
        """The newest part of every row id found in ``parts/``."""
        latest: dict[str, tuple[str, Path]] = {}
        if not self.parts.exists():
            return {}
        for path in self.parts.glob("*.json"):
            row_id, _, stamp = path.stem.rpartition("-")
            if row_id and (row_id not in latest or stamp > latest[row_id][0]):
                latest[row_id] = (stamp, path)
        out = {}
        for row_id, (_, path) in latest.items():
            try:
                out[row_id] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # unreadable part: the row runs again
        return out

    def done_row_ids(self) -> set[str]:
        """Row ids whose latest part finished successfully."""
        return {k for k, v in self.latest_parts().items() if v.get("status") == "done"}

    def attempts(self) -> dict[str, int]:
        """How many times each row id was started on a worker (from ``attempts.log``)."""
        counts: dict[str, int] = {}
        log = self.directory / ATTEMPTS_LOG
        if not log.exists():
            return counts
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                row_id = json.loads(line)["row_id"]
            except (ValueError, KeyError):
                continue
            counts[row_id] = counts.get(row_id, 0) + 1
        return counts

    def consolidate(self, spec: SweepSpec, rows: Iterable[Row]):
        """Write ``results.parquet`` and ``results.csv``: one line per row, in row order.

        Rows with no part yet have status ``pending``.

        Parameters
        ----------
        spec
            The sweep.
        rows
            Its rows.

        Returns
        -------
        pandas.DataFrame
            The table.
        """
        import pandas as pd

        parts = self.latest_parts()
        attempts = self.attempts()
        records = []
        for row in rows:
            part = parts.get(row.row_id, {})
            record: dict[str, Any] = {
                "row": row.index,
                "point": row.point,
                "replicate": row.replicate,
                "seed": row.seed,
                "scenario": Path(row.scenario).name,
            }
            for p in spec.parameters:
                record[p.path] = row.parameters[p.path]
            for m in spec.metrics:
                value = part.get(m.name)
                record[m.name] = float("nan") if value is None else float(value)
            record["status"] = part.get("status", "pending")
            record["error"] = part.get("error", "")
            record["wall_time_s"] = float(part.get("wall_time_s", float("nan")))
            record["worker"] = part.get("worker", "")
            record["run_file"] = part.get("run_file", "")
            record["attempts"] = attempts.get(row.row_id, 0)
            record["row_id"] = row.row_id
            record["overrides"] = " ".join(row.overrides)
            records.append(record)
        table = pd.DataFrame.from_records(records)
        if not table.empty:
            table["seed"] = table["seed"].astype("uint64")
        self._write_table(table)
        return table

    def _write_table(self, table) -> None:
        tmp = self.directory / ".results.parquet.tmp"
        table.to_parquet(tmp, index=False)
        os.replace(tmp, self.directory / "results.parquet")
        tmp_csv = self.directory / ".results.csv.tmp"
        table.to_csv(tmp_csv, index=False)  # shortest text that reads back as the same float
        os.replace(tmp_csv, self.directory / "results.csv")


def read_results(directory: str | Path):
    """The consolidated results table of a sweep directory.

    Parameters
    ----------
    directory
        A sweep directory.

    Returns
    -------
    pandas.DataFrame
        The table (from ``results.parquet``).
    """
    import pandas as pd

    path = Path(directory) / "results.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results table (run `mscabm sweep` into {directory})")
    return pd.read_parquet(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
