"""The command line: run, validate, scenarios, info, resume, fork, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from typer.testing import CliRunner

from mscabm import io as run_io
from mscabm.cli import app

RUNNER = CliRunner()
TINY = ["--set", "geometry.width_um=100", "--set", "time.frame_interval_days=0.25"]


def test_scenarios_lists_every_shipped_scenario_with_its_description():
    result = RUNNER.invoke(app, ["scenarios"])
    assert result.exit_code == 0, result.output
    for name in ("healthy_human", "healthy_mouse", "psoriatic_drive_human", "healthy_human_3d"):
        assert name in result.output
    assert "does not load" not in result.output


def test_run_writes_a_new_file_under_runs_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = RUNNER.invoke(app, ["run", "healthy_mouse", "--days", "0.25", "--seed", "3", "--quiet", *TINY])
    assert first.exit_code == 0, first.output
    second = RUNNER.invoke(app, ["run", "healthy_mouse", "--days", "0.25", "--seed", "3", "--quiet", *TINY])
    assert second.exit_code == 0, second.output
    files = sorted((tmp_path / "runs").glob("*.h5"))
    assert len(files) == 2 and files[0] != files[1]
    target = tmp_path / "out.h5"
    target.write_bytes(b"precious")
    refused = RUNNER.invoke(app, ["run", "healthy_mouse", "-o", str(target), "--days", "0.25", "--quiet", *TINY])
    assert refused.exit_code == 2
    assert "--force" in refused.output
    assert target.read_bytes() == b"precious"
    forced = ["run", "healthy_mouse", "-o", str(target), "--days", "0.25", "--quiet", "--force"]
    not_a_run = RUNNER.invoke(app, [*forced, *TINY])  # --force replaces only run files
    assert not_a_run.exit_code == 2 and "not an mscabm run file" in not_a_run.output
    assert target.read_bytes() == b"precious"
    target.write_bytes(files[0].read_bytes())  # a run file: replaced
    assert RUNNER.invoke(app, [*forced, "--seed", "8", *TINY]).exit_code == 0
    assert run_io.open_run(target).n_frames == 2 and run_io.open_run(target).attrs["seed"] == 8


def test_info_shows_readouts_and_fails_cleanly_on_bad_files(tmp_path):
    path = tmp_path / "r.h5"
    done = RUNNER.invoke(app, ["run", "psoriatic_drive_human", "-o", str(path), "--days", "0.25", "--quiet", *TINY])
    assert done.exit_code == 0, done.output
    info = RUNNER.invoke(app, ["info", str(path)])
    assert info.exit_code == 0, info.output
    for name in ("score_total", "viable_epidermis_thickness_um", "production_per_day_per_mm2", "n_frames"):
        assert name in info.output
    junk = tmp_path / "junk.h5"
    junk.write_text("not an HDF5 file")
    for bad in (junk, tmp_path / "missing.h5"):
        result = subprocess.run(
            [sys.executable, "-m", "mscabm.cli", "info", str(bad)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 2
        assert str(bad) in result.stderr and "Traceback" not in result.stderr


def test_cli_resume_and_fork(tmp_path):
    path = tmp_path / "parent.h5"
    options = [*TINY, "--set", "time.checkpoint_every_days=0.5"]
    done = RUNNER.invoke(app, ["run", "psoriatic_drive_human", "-o", str(path), "--days", "1", "--quiet", *options])
    assert done.exit_code == 0, done.output
    checkpoints = run_io.list_checkpoints(path)
    assert [step for step, _ in checkpoints] == [120, 240]
    with h5py.File(path, "r") as file:
        before = file["lattice/tissue"][()]
        # /cells/type names its codes: every stored type is one of the named cell types
        type_codes = json.loads(file["cells/type"].attrs["codes"])
        assert type_codes["keratinocyte"] == 0 and type_codes["neutrophil"] == 2
        assert set(np.unique(file["cells/type"][()]).tolist()) <= set(type_codes.values())
    resumed = RUNNER.invoke(app, ["run", "--resume", str(path), "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    with h5py.File(path, "r") as file:
        np.testing.assert_array_equal(file["lattice/tissue"][()], before)
    fork_path = tmp_path / "fork.h5"
    forked = RUNNER.invoke(
        app,
        ["run", "--from-checkpoint", str(checkpoints[0][1]), "-o", str(fork_path), "--quiet",
         "--set", "events=[]"],
    )  # fmt: skip
    assert forked.exit_code == 0, forked.output
    assert run_io.open_run(fork_path).attrs["seed"] == run_io.open_run(path).attrs["seed"]
    wrong = RUNNER.invoke(app, ["run", "--resume", str(path), "--seed", "3"])
    assert wrong.exit_code == 2


def test_a_run_shortened_before_its_scenarios_events_resumes_and_forks(tmp_path):
    # imq_mouse stops its inducer on day 5.5: a 1-day run stores that event past its end,
    # and resuming or forking it loads the stored scenario again
    path = tmp_path / "short.h5"
    options = [*TINY, "--set", "time.checkpoint_every_days=0.5"]
    done = RUNNER.invoke(app, ["run", "imq_mouse", "-o", str(path), "--days", "1", "--quiet", *options])
    assert done.exit_code == 0, done.output
    with h5py.File(path, "r") as file:
        before = file["lattice/tissue"][()]
    resumed = RUNNER.invoke(app, ["run", "--resume", str(path), "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    with h5py.File(path, "r") as file:
        np.testing.assert_array_equal(file["lattice/tissue"][()], before)
    checkpoint = run_io.list_checkpoints(path)[0][1]
    same_end = RUNNER.invoke(
        app, ["run", "--from-checkpoint", str(checkpoint), "-o", str(tmp_path / "f1.h5"), "--quiet"]
    )
    assert same_end.exit_code == 0, same_end.output
    longer = tmp_path / "f6.h5"
    past_the_stop = RUNNER.invoke(
        app,
        ["run", "--from-checkpoint", str(checkpoint), "-o", str(longer), "--days", "6",
         "--quiet", "--set", "time.checkpoint_every_days=10"],
    )  # fmt: skip
    assert past_the_stop.exit_code == 0, past_the_stop.output
    with h5py.File(longer, "r") as file:  # the stored day-5.5 event fires in the longer arm
        assert b"stop_inducer" in file["events"]["kind"].tolist()
    with h5py.File(tmp_path / "f1.h5", "r") as file:
        assert b"stop_inducer" not in file["events"]["kind"].tolist()


def test_version_prints_without_a_command():
    done = RUNNER.invoke(app, ["--version"])
    assert done.exit_code == 0 and done.output.startswith("mscabm ")


def test_force_replaces_the_old_runs_checkpoints_and_resume_checks_whose_they_are(tmp_path):
    path = tmp_path / "same.h5"
    every_half_day = [*TINY, "--set", "time.checkpoint_every_days=0.5", "--quiet"]
    first = ["run", "healthy_mouse", "-o", str(path), "--seed", "1", "--days", "1"]
    assert RUNNER.invoke(app, [*first, *every_half_day]).exit_code == 0
    assert len(run_io.list_checkpoints(path)) == 2
    # a forced run of another seed replaces the run and the checkpoints it had
    second = ["run", "healthy_mouse", "-o", str(path), "--seed", "99", "--days", "1", "--force"]
    assert RUNNER.invoke(app, [*second, *TINY, "--quiet"]).exit_code == 0
    assert run_io.list_checkpoints(path) == []
    # checkpoints left without their run file are not silently taken over ...
    path.unlink()
    assert RUNNER.invoke(app, [*first, *every_half_day]).exit_code == 0
    path.rename(tmp_path / "first.h5")
    again = RUNNER.invoke(app, ["run", "healthy_mouse", "-o", str(path), "--days", "1", *TINY])
    assert again.exit_code == 2 and "checkpoint(s) of an earlier run" in again.output
    # ... and a resume does not cut a run back to another run's checkpoints
    other = tmp_path / "other.h5"
    third = ["run", "healthy_mouse", "-o", str(other), "--seed", "5", "--days", "1"]
    assert RUNNER.invoke(app, [*third, *every_half_day]).exit_code == 0
    with h5py.File(other, "r") as file:
        frames = file["time"].shape[0]
    for (_, theirs), (_, ours) in zip(
        run_io.list_checkpoints(path), run_io.list_checkpoints(other), strict=True
    ):
        ours.write_bytes(theirs.read_bytes())
    refused = RUNNER.invoke(app, ["run", "--resume", str(other), "--quiet"])
    assert refused.exit_code == 2 and "belong to another run" in refused.output
    with h5py.File(other, "r") as file:
        assert file["time"].shape[0] == frames


def test_fork_keeps_the_layout_clock_and_seed_and_must_end_after_the_checkpoint(tmp_path):
    path = tmp_path / "parent.h5"
    options = [*TINY, "--set", "time.checkpoint_every_days=0.5", "--quiet"]
    done = RUNNER.invoke(app, ["run", "healthy_mouse", "-o", str(path), "--days", "1", *options])
    assert done.exit_code == 0, done.output
    checkpoint = str(run_io.list_checkpoints(path)[0][1])  # day 0.5
    fork = ["run", "--from-checkpoint", checkpoint, "-o", str(tmp_path / "f.h5"), "--quiet"]
    for extra, words in [
        (["--set", "geometry.width_um=200"], "geometry.width_um cannot change"),
        (["--set", "geometry.species=human"], "geometry.species"),
        (["--set", "time.dt_min=3"], "time.dt_min cannot change"),
        (["--set", "seed=4"], "seed cannot change"),
        (["--days", "0.5"], "not after the checkpoint (day 0.5)"),
    ]:
        refused = RUNNER.invoke(app, [*fork, *extra])
        assert refused.exit_code == 2 and words in refused.output, (extra, refused.output)
        assert not (tmp_path / "f.h5").exists()
    assert RUNNER.invoke(app, fork).exit_code == 0


def test_resume_takes_no_days_and_output_must_not_be_a_directory(tmp_path):
    path = tmp_path / "r.h5"
    options = [*TINY, "--set", "time.checkpoint_every_days=0.25", "--quiet"]
    done = RUNNER.invoke(app, ["run", "healthy_mouse", "-o", str(path), "--days", "0.5", *options])
    assert done.exit_code == 0, done.output
    longer = RUNNER.invoke(app, ["run", "--resume", str(path), "--days", "3"])
    assert longer.exit_code == 2 and "--from-checkpoint" in longer.output
    missing = RUNNER.invoke(app, ["run", "--resume", str(tmp_path / "missing.h5")])
    assert missing.exit_code == 2 and "no such run file" in missing.output
    assert "day 0.00" not in missing.output  # no progress bar before the error
    unknown = RUNNER.invoke(app, ["run", "no_such_scenario"])
    assert unknown.exit_code == 2 and "day 0.00" not in unknown.output
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("extends: healthy_mouse  # my notes\n")
    over = RUNNER.invoke(app, ["run", "healthy_mouse", "-o", str(scenario), "--force", *TINY])
    assert over.exit_code == 2 and "not an mscabm run file" in over.output
    assert scenario.read_text() == "extends: healthy_mouse  # my notes\n"
    folder = tmp_path / "folder"
    folder.mkdir()
    for force in ([], ["--force"]):
        into = RUNNER.invoke(app, ["run", "healthy_mouse", "-o", str(folder), *TINY, *force])
        assert into.exit_code == 2 and "is a directory" in into.output


def test_sigterm_and_ctrl_c_end_a_run_at_a_step_as_interrupted(tmp_path):
    # the signal is taken at the next step (never inside a library callback, where Python
    # would ignore the KeyboardInterrupt and the run would go on)
    for signum, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        path = tmp_path / f"stopped_{code}.h5"
        process = subprocess.Popen(
            [sys.executable, "-m", "mscabm.cli", "run", "healthy_mouse", "-o", str(path),
             "--days", "60", *TINY],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
        assert process.returncode == code, err
        assert "interrupted" in err and "Exception ignored" not in err
        data = run_io.open_run(path)
        assert data.attrs["status"] == "interrupted" and 0 < data.n_frames < 241


def test_progress_bar_writes_when_not_quiet(tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, "-m", "mscabm.cli", "run", "healthy_mouse", "-o", str(tmp_path / "p.h5"),
         "--days", "0.25", *TINY],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "steps/s" in done.stderr and "day" in done.stderr
    assert Path(tmp_path / "p.h5").exists()
