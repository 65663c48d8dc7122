"""Sweeps: sweep files → rows, seeds, resume, failing rows, bad files, dry runs, the report.

Runs are tiny (healthy_mouse, 0.1 mm, 0.1 day: about half a second each) and go through the
real Dask LocalCluster with two single-threaded workers.
"""

from __future__ import annotations

import importlib
import json
import os
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mscabm.cli import app

CI = os.environ.get("CI", "").lower() == "true"
RUNNER = CliRunner()
SWEEPS = Path(__file__).resolve().parents[1] / "mscabm" / "scenarios" / "sweeps"


def require(module: str):
    """Import an optional dependency; under CI=true its absence is a failure, not a skip."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if CI:
            pytest.fail(f"{module} is required under CI=true (pip install 'mscabm[sweep]')")
        pytest.skip(f"{module} not installed (the sweep extra)")


TINY = """\
name: tiny
scenario: healthy_mouse
days: 0.1
overrides: {{geometry.width_um: 100, time.frame_interval_days: 0.1}}
parameters:
{parameters}
replicates: {{count: 2, root_entropy: 987654321}}
metrics:
  tgfb_epidermis: {{series: mean_tgfb_epidermis}}
  thickness_um: {{series: viable_epidermis_thickness_um, reduce: mean}}
"""


def write_sweep(tmp_path: Path, parameters: str, name: str = "sweep.yaml", **replace) -> Path:
    text = TINY.format(parameters=parameters)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def attempts(directory: Path) -> list[dict]:
    log = directory / "attempts.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# --------------------------------------------------------------------------- rows and seeds


def test_rows_have_a_stable_order_and_common_replicate_seeds(tmp_path):
    from mscabm.sweep import load_sweep, replicate_seeds

    path = write_sweep(
        tmp_path,
        "  fields.tgfb.half_life_min: {values: [20, 40]}\n"
        "  keratinocyte.cycle_time_h: {low: 100, high: 300, num: 3}",
    )
    spec = load_sweep(path)
    rows = spec.rows()
    assert len(rows) == 2 * 3 * 2
    assert [r.index for r in rows] == list(range(12))
    # grid: last parameter fastest, replicate innermost
    assert [r.parameters["keratinocyte.cycle_time_h"] for r in rows[:6:2]] == [100.0, 200.0, 300.0]
    assert {r.parameters["fields.tgfb.half_life_min"] for r in rows[:6]} == {20}
    # DESIGN.md: SeedSequence(root).spawn(R)[r].generate_state(1, uint64)[0], same at every point
    children = np.random.SeedSequence(987654321).spawn(2)
    expected = [int(c.generate_state(1, np.uint64)[0]) for c in children]
    assert replicate_seeds(987654321, 2) == expected
    for r in rows:
        assert r.seed == expected[r.replicate]
    assert len({r.row_id for r in rows}) == 12
    # the identity is reproducible, and changes with anything that changes the result
    again = load_sweep(path).rows()
    assert [r.row_id for r in again] == [r.row_id for r in rows]
    one = load_sweep(write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20, 40]}", "a.yaml")).rows()
    other = load_sweep(write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20, 41]}", "b.yaml")).rows()
    assert [r.row_id for r in other[:2]] == [r.row_id for r in one[:2]]  # same point, same rows
    assert not {r.row_id for r in other[2:]} & {r.row_id for r in one}
    # a row is the command line of the job-array alternative
    assert rows[0].command().startswith("mscabm run healthy_mouse --seed ")
    assert "--set keratinocyte.cycle_time_h=100.0" in rows[0].command()


def test_sampled_designs_lie_in_their_ranges_and_sobol_has_n_times_k_plus_2_points(tmp_path):
    require("SALib")
    from mscabm.sweep import load_sweep

    ranges = (
        "  fields.tgfb.half_life_min: {low: 10, high: 40}\n"
        "  keratinocyte.cycle_time_h: {low: 100, high: 400, log: true}"
    )
    for sampler, n, points in (("random", 5, 5), ("latin", 6, 6), ("morris", 3, 9), ("sobol", 4, 16)):
        path = write_sweep(tmp_path, ranges, f"{sampler}.yaml")
        text = path.read_text().replace("replicates:", f"design: {{sampler: {sampler}, n: {n}}}\nreplicates:")
        path.write_text(text)
        spec = load_sweep(path)
        rows = spec.rows()
        assert len(rows) == points * 2, sampler
        values = np.array([r.parameters["keratinocyte.cycle_time_h"] for r in rows])
        assert values.min() >= 100 - 1e-9 and values.max() <= 400 + 1e-9
        if sampler == "latin":  # one point per stratum of each parameter
            half_life = np.array([r.parameters["fields.tgfb.half_life_min"] for r in rows[::2]])
            assert sorted(np.floor((half_life - 10) / 30 * 6).astype(int)) == list(range(6))


# --------------------------------------------------------------------------- bad sweep files


@pytest.mark.parametrize(
    ("parameters", "design", "message"),
    [
        ("  keratinocyte.cycle_time_hours: {values: [100, 200]}", "", "keratinocyte.cycle_time_hours"),
        ("  fields.tgfb.half_life_min: {low: 40, high: 40, num: 3}", "", "empty range"),
        ("  fields.tgfb.half_life_min: {values: []}", "", "non-empty list"),
        ("  fields.tgfb.half_life_min: {low: 10, high: 40}", "design: {sampler: montecarlo, n: 4}", "unknown sampler 'montecarlo'; valid: grid, values, random, latin, morris, sobol"),
        ("  fields.tgfb.half_life_min: {low: 10, high: 40}", "design: {sampler: sobol, n: 6}", "power of two"),
    ],
)
def test_bad_sweep_files_exit_2_with_a_clear_message(tmp_path, parameters, design, message):
    path = write_sweep(tmp_path, parameters)
    if design:
        path.write_text(path.read_text().replace("replicates:", design + "\nreplicates:"))
    result = RUNNER.invoke(app, ["sweep", str(path), "-o", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert str(path) in text and message in text
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_parameter_path_names_the_key_and_the_valid_ones(tmp_path):
    path = write_sweep(tmp_path, "  keratinocyte.cycle_time_hours: {values: [100, 200]}")
    result = RUNNER.invoke(app, ["sweep", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "sweep.yaml:6: parameters.keratinocyte.cycle_time_hours" in text
    assert "cycle_time_h" in text  # the scenario's suggestion


def test_missing_root_entropy_and_unknown_metric_series_are_refused(tmp_path):
    path = write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20]}")
    path.write_text(path.read_text().replace("root_entropy: 987654321", "seed: 1"))
    result = RUNNER.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2 and "root_entropy" in result.output
    path = write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20]}", "m.yaml")
    path.write_text(path.read_text().replace("mean_tgfb_epidermis", "mean_tgf_epidermis"))
    result = RUNNER.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "unknown time series 'mean_tgf_epidermis'" in " ".join(result.output.split())


def test_dry_run_prints_rows_and_the_slurm_job_script(tmp_path):
    require("dask_jobqueue")
    path = write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20, 40]}")
    path.write_text(
        path.read_text()
        + "cluster: {queue: short, walltime: '00:20:00', memory: 3GB, jobs: 5,"
        " interpreter: /opt/mscabm/bin/python, prologue: ['module load hdf5/1.14']}\n"
    )
    result = RUNNER.invoke(
        app, ["sweep", str(path), "-o", str(tmp_path / "out"), "--dry-run", "--cluster", "slurm"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "4 rows = 2 design points (grid) x 2 replicate seeds" in out
    for line in ("#!/usr/bin/env bash", "#SBATCH -p short", "#SBATCH -t 00:20:00", "#SBATCH --mem=", "module load hdf5/1.14", "export OMP_NUM_THREADS=1"):
        assert line in out, line
    assert "/opt/mscabm/bin/python -m distributed.cli.dask_worker" in out
    assert "--nthreads 1" in out
    assert "(5 job(s)" in out
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


# --------------------------------------------------------------------------- running


def test_resume_runs_nothing_new_and_reruns_exactly_a_deleted_row(tmp_path):
    require("distributed")
    require("pyarrow")
    import pandas as pd

    path = write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20, 40]}")
    out = tmp_path / "out"
    first = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "2", "-q", "--no-report"])
    assert first.exit_code == 0, first.output
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["row"]) == [0, 1, 2, 3]
    assert list(table["status"]) == ["done"] * 4
    assert table["seed"].dtype == np.uint64
    for column in ("fields.tgfb.half_life_min", "tgfb_epidermis", "thickness_um", "status", "error", "wall_time_s", "worker", "run_file", "seed"):
        assert column in table.columns
    assert np.all(np.isfinite(table["tgfb_epidermis"])) and np.all(table["wall_time_s"] > 0)
    # a longer TGF-β half-life leaves more of it (same seeds: the replicates pair up)
    assert np.all(table["tgfb_epidermis"][2:].to_numpy() > table["tgfb_epidermis"][:2].to_numpy())
    for run_file in table["run_file"]:
        assert (out / run_file).exists() and run_file.endswith(".h5")
    assert not list((out / "runs").glob("*.partial"))
    assert len(attempts(out)) == 4
    csv = pd.read_csv(out / "results.csv")
    np.testing.assert_array_equal(csv["tgfb_epidermis"].to_numpy(), table["tgfb_epidermis"].to_numpy())

    second = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "2", "-q", "--no-report"])
    assert second.exit_code == 0, second.output
    assert "4 already done, 0 done now" in " ".join(second.output.split())
    assert len(attempts(out)) == 4  # nothing started

    victim = table.iloc[2]
    for part in (out / "parts").glob(f"{victim['row_id']}-*.json"):
        part.unlink()
    (out / victim["run_file"]).unlink()
    third = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "2", "-q", "--no-report"])
    assert third.exit_code == 0, third.output
    started = attempts(out)[4:]
    assert [a["row_id"] for a in started] == [victim["row_id"]]
    again = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_series_equal(again["tgfb_epidermis"], table["tgfb_epidermis"])
    assert (out / again.iloc[2]["run_file"]).exists()

    # a metric added later is read from the kept run files: nothing runs again
    path.write_text(path.read_text() + "  tgfb_dermis: {series: mean_tgfb_dermis}\n")
    added = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "2", "-q", "--no-report"])
    assert added.exit_code == 0, added.output
    assert len(attempts(out)) == 5
    assert np.isfinite(pd.read_parquet(out / "results.parquet")["tgfb_dermis"]).all()
    assert len(list(out.glob("sweep.*.yaml"))) == 1  # the earlier sweep file is kept

    # --rerun-all runs every row again; the earlier run files are kept, not overwritten
    before = {p.name for p in (out / "runs").glob("*.h5")}
    fourth = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "2", "-q", "--no-report", "--rerun-all"])
    assert fourth.exit_code == 0, fourth.output
    assert len(attempts(out)) == 9 == len(attempts(out)[:5]) + 4
    after = {p.name for p in (out / "runs").glob("*.h5")}
    assert before < after and len(after) == 8


def test_a_failing_row_is_recorded_and_the_sweep_goes_on(tmp_path):
    require("distributed")
    require("pyarrow")
    import pandas as pd

    path = write_sweep(tmp_path, "  initial_state: {values: [healthy_mouse, no_such_state]}")
    path.write_text(path.read_text().replace("count: 2", "count: 1") + "keep_runs: false\n")
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "2", "-q"])
    assert result.exit_code == 1, result.output  # rows failed: not a bad input (2)
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["status"]) == ["done", "failed"]
    assert "no_such_state" in table["error"][1] and "SimulationError" in table["error"][1]
    assert table["error"][0] == "" and np.isnan(table["tgfb_epidermis"][1])
    assert list(table["run_file"]) == ["", ""]  # keep_runs: false
    assert not list((out / "runs").iterdir())  # no run file kept, no half file left
    assert "row 1: SimulationError" in " ".join(result.output.split())
    assert "Failed rows" in (out / "sweep.html").read_text()


def test_example_sweep_and_report(tmp_path):
    """The shipped example, cut to 2 rows of 0.25 day, and its report."""
    require("distributed")
    require("plotly")
    from mscabm.sweep import load_sweep

    spec = load_sweep(SWEEPS / "imq_dose_il23.yaml")
    assert len(spec.rows()) == 27 and spec.replicates == 3
    text = (SWEEPS / "imq_dose_il23.yaml").read_text()
    text = text.replace("scenario: imq_mouse_small.yaml", f"scenario: {SWEEPS / 'imq_mouse_small.yaml'}\ndays: 0.25")
    text = text.replace("values: [0.25, 1.0, 4.0]", "values: [1.0]").replace("values: [0.35e-4, 1.4e-4, 5.6e-4]", "values: [1.4e-4, 5.6e-4]")
    text = text.replace("count: 3", "count: 1").replace("day: 2}", "day: 0.25}")
    small = tmp_path / "example.yaml"
    small.write_text(text)
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["sweep", str(small), "-o", str(out), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "sweep.html").stat().st_size > 1_000_000  # one command: table and report
    assert (out / "results.parquet").exists() and (out / "results.csv").exists()
    report = RUNNER.invoke(app, ["sweep-report", str(out), "-o", str(tmp_path / "sweep.html")])
    assert report.exit_code == 0, report.output
    again = RUNNER.invoke(app, ["sweep-report", str(out), "-o", str(tmp_path / "sweep.html")])
    assert again.exit_code == 2 and "already exists" in again.output  # a named report is kept
    forced = ["sweep-report", str(out), "-o", str(tmp_path / "sweep.html"), "--force"]
    assert RUNNER.invoke(app, forced).exit_code == 0
    assert RUNNER.invoke(app, ["sweep-report", str(out)]).exit_code == 0  # its own: updated
    page = (tmp_path / "sweep.html").read_text()
    assert "<script src=" not in page  # self-contained: plotly.js inlined
    assert "il23_secretion_pg_per_cell_day" in page and "score_total_day2" in page
    summary = (tmp_path / "sweep_summary.csv").read_text().splitlines()
    assert summary[0].startswith("point,events.0.amount,il23_secretion_pg_per_cell_day,n_done")
    assert len(summary) == 3


def test_job_array_commands_write_run_files_that_the_sweep_adopts(tmp_path):
    require("distributed")
    require("pyarrow")
    import shlex

    import pandas as pd

    path = write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20, 40]}")
    path.write_text(path.read_text().replace("count: 2", "count: 1"))
    out = tmp_path / "out"
    listed = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--print-commands"])
    assert listed.exit_code == 0, listed.output
    commands = listed.output.strip().splitlines()
    assert len(commands) == 2 and not out.exists()
    argv = shlex.split(commands[0])
    assert argv[:2] == ["mscabm", "run"] and "--seed" in argv
    ran = RUNNER.invoke(app, argv[1:])  # what one array task does
    assert ran.exit_code == 0, ran.output
    result = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["status"]) == ["done", "done"]
    assert table["worker"][0].startswith("adopted") and table["attempts"][0] == 0
    assert table["attempts"][1] == 1  # only the row the array did not run
    assert np.isfinite(table["tgfb_epidermis"]).all()


def test_a_row_that_killed_its_workers_is_recorded_as_failed_not_fatal():
    distributed = require("distributed")
    from mscabm.sweep.executors import _collect
    from mscabm.sweep.spec import Row

    class DeadFuture:
        def result(self):
            last = types.SimpleNamespace(address="tcp://127.0.0.1:1")
            raise distributed.KilledWorker("mscabm-row-3-abc", last, allowed_failures=3)

    row = Row(index=3, point=1, replicate=1, scenario="healthy_mouse", overrides=(), seed=7, days=None, parameters={}, row_id="abc")
    record = _collect(DeadFuture(), row)
    assert record["status"] == "failed" and record["row_id"] == "abc"
    assert record["error"].startswith("KilledWorker: every worker that ran this row died")


def test_cluster_slurm_without_sbatch_is_a_clear_error(tmp_path, monkeypatch):
    require("dask_jobqueue")
    path = write_sweep(tmp_path, "  fields.tgfb.half_life_min: {values: [20]}")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    result = RUNNER.invoke(app, ["sweep", str(path), "-o", str(tmp_path / "out"), "--cluster", "slurm", "-q"])
    assert result.exit_code == 2, result.output
    assert "sbatch is not on this machine's PATH" in " ".join(result.output.split())
