"""A sweep through a real `dask scheduler` and two `dask worker` processes, one killed mid-run.

Every row must finish, the row that was running on the killed worker must have run again on
the other one (Dask's retry), and the metrics must equal, bit for bit, those of the same sweep
on a LocalCluster (same seeds: runs are deterministic whatever the worker).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_sweep import attempts, require, write_sweep

DASK = Path(sys.executable).parent / "dask"
MSCABM = [sys.executable, "-m", "mscabm.cli"]


def _start(command: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the worker command and its nanny child
    process.wait(timeout=30)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_worker_row_runs_again_and_results_equal_a_local_sweep(tmp_path):
    require("distributed")
    require("pyarrow")
    import pandas as pd
    from distributed import Client

    path = write_sweep(
        tmp_path,
        "  fields.tgfb.half_life_min: {values: [20, 30, 40]}",
        **{"days: 0.1": "days: 0.25", "time.frame_interval_days: 0.1": "time.frame_interval_days: 0.25"},
    )
    scheduler_file = tmp_path / "scheduler.json"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(
            _start(
                [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(scheduler_file)],
                tmp_path / "scheduler.log",
            )
        )
        _wait(lambda: scheduler_file.exists() and scheduler_file.stat().st_size > 0, 60, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        workers = {}
        for name in ("wA", "wB"):
            workers[name] = _start(
                [str(DASK), "worker", "--scheduler-file", str(scheduler_file), "--name", name,
                 "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                tmp_path / f"{name}.log",
            )
            processes.append(workers[name])
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)

        out = tmp_path / "distributed"
        sweep = _start([*MSCABM, "sweep", str(path), "-o", str(out), "--scheduler", address, "-q"], tmp_path / "sweep.log")
        processes.append(sweep)
        _wait(lambda: any(a["worker"].startswith("wA@") for a in attempts(out)), 120, "a row on wA")
        _kill(workers["wA"])
        killed = [a for a in attempts(out) if a["worker"].startswith("wA@")][-1]["row_id"]
        assert sweep.wait(timeout=240) == 0, (tmp_path / "sweep.log").read_text()
    finally:
        for process in processes:
            _kill(process)

    table = pd.read_parquet(out / "results.parquet")
    assert list(table["status"]) == ["done"] * 6
    runs_of_killed = [a for a in attempts(out) if a["row_id"] == killed]
    assert len(runs_of_killed) >= 2 and runs_of_killed[-1]["worker"].startswith("wB@")
    assert table.loc[table["row_id"] == killed, "attempts"].item() >= 2
    assert table.loc[table["row_id"] == killed, "worker"].item().startswith("wB@")
    assert not list((out / "runs").glob("*.partial"))

    local = tmp_path / "local"
    done = subprocess.run(
        [*MSCABM, "sweep", str(path), "-o", str(local), "--workers", "2", "-q"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr
    reference = pd.read_parquet(local / "results.parquet")
    for column in ("row_id", "seed", "fields.tgfb.half_life_min"):
        assert list(table[column]) == list(reference[column])
    for metric in ("tgfb_epidermis", "thickness_um"):
        a, b = table[metric].to_numpy(), reference[metric].to_numpy()
        assert np.all(np.isfinite(a))
        assert a.tobytes() == b.tobytes(), metric  # bit-identical


def test_an_interrupted_sweep_keeps_finished_rows_and_resumes(tmp_path):
    require("distributed")
    require("pyarrow")
    import pandas as pd

    path = write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20, 30, 40]}")
    path.write_text(path.read_text().replace("count: 2", "count: 1"))
    out = tmp_path / "out"
    sweep = _start([*MSCABM, "sweep", str(path), "-o", str(out), "--workers", "1", "-q"], tmp_path / "sweep.log")
    try:
        _wait(lambda: len(list((out / "parts").glob("*.json"))) >= 1 if (out / "parts").exists() else False, 120, "a finished row")
        os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
        code = sweep.wait(timeout=60)
    finally:
        _kill(sweep)
    assert code == 130, (tmp_path / "sweep.log").read_text()
    table = pd.read_parquet(out / "results.parquet")
    finished = set(table.loc[table["status"] == "done", "row_id"])
    assert 1 <= len(finished) < 3
    assert set(table["status"]) <= {"done", "pending"}
    done = subprocess.run(
        [*MSCABM, "sweep", str(path), "-o", str(out), "--workers", "2", "-q"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["status"]) == ["done"] * 3
    reran = {a["row_id"] for a in attempts(out)}
    assert finished <= reran
    started_twice = [r for r in finished if sum(a["row_id"] == r for a in attempts(out)) > 1]
    assert not started_twice  # finished rows were not run again
