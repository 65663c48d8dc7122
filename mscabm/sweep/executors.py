"""Executors: Dask runs the rows (LocalCluster, an existing scheduler, or SLURM/PBS jobs).

:func:`run_sweep` resolves the rows, skips those already done (resume), submits the rest to a
Dask client as one task per row, saves each result the moment it arrives, and consolidates the
table at the end (also after Ctrl-C or an error, so nothing finished is lost).

Failure handling is Dask's: a task whose worker dies is rescheduled on another worker; a task
that was running on ``distributed.scheduler.allowed-failures + 1`` dying workers (default 3 + 1)
raises ``KilledWorker``, and that row is recorded as failed while the sweep goes on. A
simulation that raises is caught inside :func:`~mscabm.sweep.execute.run_row` and recorded as
failed with its error text.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mscabm.sweep.execute import run_row
from mscabm.sweep.spec import Row, SweepSpec
from mscabm.sweep.store import SweepStore

__all__ = ["CLUSTERS", "SweepProgress", "SweepSummary", "job_script", "run_sweep"]

CLUSTERS = ("local", "slurm", "pbs")
#: Placeholder of the scheduler address in a printed job script (dask-jobqueue fills it in).
SCHEDULER_PLACEHOLDER = "tcp://SCHEDULER_HOST:8786"


@dataclass
class SweepProgress:
    """What a progress callback receives after every finished row."""

    total: int
    done: int
    failed: int
    running: int
    skipped: int


@dataclass
class SweepSummary:
    """What :func:`run_sweep` did."""

    rows: int
    skipped: int
    ran: int
    done: int
    failed: int
    table: Any


def _jobqueue_kwargs(spec: SweepSpec) -> dict[str, Any]:
    cluster = spec.cluster
    kwargs: dict[str, Any] = {
        "cores": int(cluster.get("cores", 1)),
        "processes": int(cluster.get("cores", 1)),  # one single-threaded worker per core
        "memory": str(cluster.get("memory", "2GB")),
        "walltime": str(cluster.get("walltime", "01:00:00")),
        "job_script_prologue": [
            *[str(line) for line in cluster.get("prologue", [])],
            "export OMP_NUM_THREADS=1",
        ],
        "job_name": f"mscabm-{spec.name}",
    }
    if "queue" in cluster:
        kwargs["queue"] = str(cluster["queue"])
    if "account" in cluster:
        kwargs["account"] = str(cluster["account"])
    if "interpreter" in cluster:
        kwargs["python"] = str(cluster["interpreter"])
    if "local_directory" in cluster:
        kwargs["local_directory"] = str(cluster["local_directory"])
    if "extra_directives" in cluster:
        kwargs["job_extra_directives"] = [str(x) for x in cluster["extra_directives"]]
    return kwargs


def job_script(spec: SweepSpec, kind: str, scheduler: str = SCHEDULER_PLACEHOLDER) -> str:
    """The batch script dask-jobqueue submits for one worker job.

    Parameters
    ----------
    spec
        The sweep (its ``cluster`` settings).
    kind
        ``slurm`` or ``pbs``.
    scheduler
        Scheduler address written into the script.

    Returns
    -------
    str
        The job script.
    """
    if kind == "slurm":
        from dask_jobqueue.slurm import SLURMJob

        job_class: type = SLURMJob
    elif kind == "pbs":
        from dask_jobqueue.pbs import PBSJob

        job_class = PBSJob
    else:
        raise ValueError(f"no job script for cluster {kind!r}; valid: slurm, pbs")
    job = job_class(scheduler=scheduler, name="mscabm-worker", **_jobqueue_kwargs(spec))
    return job.job_script()


@contextlib.contextmanager
def _client(
    spec: SweepSpec, scheduler: str | None, cluster: str, workers: int | None
) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    if cluster == "local":
        # the cores this process may use (a batch allocation or taskset), not the whole node
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        n = workers or cores or 1
        with (
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                # a free port: with None the scheduler's HTTP server still tries 8787 and warns
                # when another cluster holds it
                dashboard_address=":0",
                env={"OMP_NUM_THREADS": "1"},
            ) as local,
            Client(local) as client,
        ):
            yield client
        return
    if cluster == "slurm":
        from dask_jobqueue import SLURMCluster

        cluster_class: type = SLURMCluster
    elif cluster == "pbs":
        from dask_jobqueue import PBSCluster

        cluster_class = PBSCluster
    else:
        raise ValueError(f"unknown cluster {cluster!r}; valid: {', '.join(CLUSTERS)}")
    import shutil

    submit = {"slurm": "sbatch", "pbs": "qsub"}[cluster]
    if shutil.which(submit) is None:
        raise ValueError(
            f"--cluster {cluster}: {submit} is not on this machine's PATH; run mscabm sweep "
            f"where {cluster.upper()} jobs can be submitted (a login node or a driver job; "
            "docs/cluster.md), or print the job script with --dry-run"
        )
    jobs = workers or int(spec.cluster.get("jobs", 1))
    with (
        cluster_class(**_jobqueue_kwargs(spec)) as batch,
        Client(batch) as client,
    ):
        batch.scale(jobs=jobs)
        yield client


def run_sweep(
    spec: SweepSpec,
    directory: str | Path,
    *,
    rows: list[Row] | None = None,
    scheduler: str | None = None,
    cluster: str = "local",
    workers: int | None = None,
    rerun_all: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepSummary:
    """Run the rows of a sweep that are not done yet and write the results table.

    Parameters
    ----------
    spec
        The sweep.
    directory
        Output directory (created; earlier results there are resumed).
    rows
        The rows (default ``spec.rows()``).
    scheduler
        Address of a running Dask scheduler (``tcp://HOST:PORT``); else ``cluster`` is started.
    cluster
        ``local`` (LocalCluster, one single-threaded worker per core), ``slurm`` or ``pbs``.
    workers
        Local workers, or batch jobs for SLURM/PBS (default: cores; the sweep file's ``jobs``).
    rerun_all
        Ignore earlier results and run every row again (earlier part files are kept).
    progress
        Called with counts after every finished row.

    Returns
    -------
    SweepSummary
        Counts and the results table.
    """
    from distributed import as_completed

    directory = Path(directory)
    rows = spec.rows() if rows is None else rows
    store = SweepStore(directory)
    store.prepare(spec, rows)
    done_ids = set() if rerun_all else _done_with_current_metrics(spec, rows, store)
    if not rerun_all:
        done_ids |= _adopt_finished_runs(spec, rows, done_ids, store)
    todo = [r for r in rows if r.row_id not in done_ids]
    skipped = len(rows) - len(todo)
    metrics = [asdict(m) for m in spec.metrics]
    counts = SweepProgress(total=len(rows), done=0, failed=0, running=0, skipped=skipped)
    if progress is not None:
        progress(counts)
    try:
        if todo:
            with _client(spec, scheduler, cluster, workers) as client:
                futures = []
                row_of = {}
                for row in todo:
                    future = client.submit(
                        run_row,
                        _row_payload(row),
                        str(directory.resolve()),
                        metrics,
                        spec.keep_runs,
                        key=f"mscabm-row-{row.index}-{row.row_id}",
                        pure=False,
                    )
                    futures.append(future)
                    row_of[future.key] = row
                threads = max(1, sum(client.nthreads().values()))
                pending = len(futures)
                counts.running = min(pending, threads)
                if progress is not None:
                    progress(counts)
                last_poll = time.monotonic()
                for future in as_completed(futures):
                    row = row_of[future.key]
                    result = _collect(future, row)
                    store.save_part(result)
                    pending -= 1
                    if result["status"] == "done":
                        counts.done += 1
                    else:
                        counts.failed += 1
                    if time.monotonic() - last_poll > 5.0:  # workers come and go (jobs, deaths)
                        threads = max(1, sum(client.nthreads().values()))
                        last_poll = time.monotonic()
                    counts.running = min(pending, threads)
                    if progress is not None:
                        progress(counts)
    finally:
        table = store.consolidate(spec, rows)
    return SweepSummary(
        rows=len(rows),
        skipped=skipped,
        ran=counts.done + counts.failed,
        done=counts.done,
        failed=counts.failed,
        table=table,
    )


def _done_with_current_metrics(spec: SweepSpec, rows: list[Row], store: SweepStore) -> set[str]:
    """Row ids done earlier whose result holds every metric the sweep file asks for now.

    Metrics added to the sweep file after a row ran are read from its kept run file (a new
    part file records them); a row without its run file runs again.
    """
    from mscabm.sweep.execute import extract_metrics

    wanted = {r.row_id for r in rows}
    names = [m.name for m in spec.metrics]
    done: set[str] = set()
    for row_id, part in store.latest_parts().items():
        if row_id not in wanted or part.get("status") != "done":
            continue
        missing = [m for m in spec.metrics if m.name not in part]
        if not missing:
            done.add(row_id)
            continue
        run_file = store.directory / str(part.get("run_file") or "")
        if not part.get("run_file") or not run_file.is_file():
            continue
        try:
            part = {**part, **extract_metrics(run_file, missing)}
        except (OSError, ValueError, KeyError):
            continue
        if all(name in part for name in names):
            store.save_part(part)
            done.add(row_id)
    return done


def _adopt_finished_runs(
    spec: SweepSpec, rows: list[Row], done_ids: set[str], store: SweepStore
) -> set[str]:
    """Record rows whose run file is already complete under its sweep name (job arrays).

    ``mscabm sweep --print-commands`` gives each row's ``mscabm run ... -o
    DIR/runs/row<index>_<row_id>.h5`` line; when a job array ran them, the next ``mscabm
    sweep`` reads those files instead of running the rows again. Only files whose ``status``
    attribute is ``complete`` and whose seed is the row's are taken.
    """
    import h5py

    from mscabm.sweep.execute import RUNS_DIR, extract_metrics, run_file_name

    adopted: set[str] = set()
    for row in rows:
        if row.row_id in done_ids:
            continue
        path = (
            store.directory / RUNS_DIR / run_file_name({"index": row.index, "row_id": row.row_id})
        )
        if not path.exists():
            continue
        try:
            with h5py.File(path, "r") as file:
                complete = file.attrs.get("status") == "complete"
                seed = int(file.attrs.get("seed", -1))
            if not complete or seed != row.seed:
                continue
            result = {
                "row_id": row.row_id,
                "status": "done",
                "error": "",
                "worker": "adopted: run file made outside the sweep (mscabm run)",
                "run_file": str(path.relative_to(store.directory)),
                "wall_time_s": float("nan"),
            }
            result.update(extract_metrics(path, list(spec.metrics)))
        except (OSError, ValueError, KeyError):
            continue  # unreadable or incomplete: the row runs again
        store.save_part(result)
        adopted.add(row.row_id)
    return adopted


def _row_payload(row: Row) -> dict[str, Any]:
    return {
        "index": row.index,
        "row_id": row.row_id,
        "scenario": row.scenario,
        "overrides": list(row.overrides),
        "seed": row.seed,
        "days": row.days,
    }


def _collect(future, row: Row) -> dict[str, Any]:
    """A finished future's result, or a failed record when its task could not complete."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        error = (
            f"KilledWorker: every worker that ran this row died ({exc}); "
            "see distributed.scheduler.allowed-failures"
        )
    except Exception as exc:  # cancelled, lost, or an error outside run_row
        error = f"{type(exc).__name__}: {exc}"
    return {
        "row_id": row.row_id,
        "status": "failed",
        "error": error,
        "worker": "",
        "run_file": "",
        "wall_time_s": float("nan"),
    }
