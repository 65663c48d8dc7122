"""Tests of mscabm.io: the HDF5 run file (writer, reader, SWMR, crashes) and checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from mscabm import io as run_io
from mscabm._version import SCHEMA_VERSION, __version__
from mscabm.io import (
    FieldMeta,
    RunFileError,
    RunWriter,
    checkpoint_dir,
    describe_run,
    list_checkpoints,
    load_checkpoint,
    open_run,
    save_checkpoint,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

FIELDS = (
    FieldMeta("il17a", "pg/mL", "interleukin-17A", "IL-17A", 6000.0, 10.0),
    FieldMeta("ll37_dna", "pg/mL", "LL-37/self-DNA complex", "LL-37/DNA", 300.0, 120.0),
)
LATTICE_CODES = {"none": 0, "basal": 1, "spinous": 2, "granular": 3, "fibroblast": 4}
CELL_COLUMNS = {
    "cell_id": np.uint64,
    "type": np.uint8,
    "voxel": np.int64,
    "state": np.uint8,
    "birth_step": np.int64,
}
TIMESERIES = ("viable_epidermis_thickness_um", "score_total", "count_neutrophil")
MAX_SEED = 2**64 - 1


def make_writer(path: Path, shape: tuple[int, ...] = (6, 8), **overrides) -> RunWriter:
    options = {
        "attrs": {
            "seed": MAX_SEED,
            "scenario": "name: test\nmsc:\n  dose_cells: 1.0e6\n",
            "git_commit": "0123abc",
            "note": {"arm": "msc", "doses": [1, 2]},
        },
        "dims": ("z", "x") if len(shape) == 2 else ("z", "y", "x"),
        "shape": shape,
        "voxel_um": 10.0,
        "fields": FIELDS,
        "lattice_codes": LATTICE_CODES,
        "timeseries_names": TIMESERIES,
        "cell_columns": CELL_COLUMNS,
    }
    options.update(overrides)
    return RunWriter(path, **options)


def frame_inputs(shape: tuple[int, ...], frame: int) -> dict:
    """Deterministic, frame-specific inputs so every stored value can be checked."""
    size = int(np.prod(shape))
    ramp = np.arange(size, dtype=np.float64).reshape(shape)
    n_cells = (3 * frame) % 5  # 0, 3, 1, 4, 2, 0, ...: ragged, including empty frames
    return {
        "tissue": ((np.arange(size) + frame) % 5).reshape(shape).astype(np.int64),
        "mobile": ((np.arange(size) * 7 + frame) % 3).reshape(shape).astype(np.uint8),
        "net": ((np.arange(size) + frame) % 4 == 0).reshape(shape),
        "sc_height_um": frame + 0.25 * np.arange(int(np.prod(shape[1:]))).reshape(shape[1:]),
        "fields": {"il17a": frame + ramp / 7.0, "ll37_dna": 1e-3 * frame * ramp},
        "cells": {
            "cell_id": np.arange(n_cells, dtype=np.uint64) + np.uint64(2**63 + 100 * frame),
            "type": np.full(n_cells, frame % 5, dtype=np.uint8),
            "voxel": np.arange(n_cells, dtype=np.int64) * 2 + frame,
            "state": np.ones(n_cells, dtype=np.uint8),
            "birth_step": -np.arange(n_cells, dtype=np.int64) - frame,
        },
    }


def write_frames(writer: RunWriter, shape: tuple[int, ...], frames: range) -> None:
    for frame in frames:
        writer.write_frame(0.25 * frame, **frame_inputs(shape, frame))


def check_frame(run: run_io.RunData, shape: tuple[int, ...], frame: int) -> None:
    expected = frame_inputs(shape, frame)
    np.testing.assert_array_equal(run.tissue.isel(time=frame).values, expected["tissue"])
    np.testing.assert_array_equal(run.mobile.isel(time=frame).values, expected["mobile"])
    np.testing.assert_array_equal(run.net.isel(time=frame).values, expected["net"].astype(np.uint8))
    np.testing.assert_array_equal(
        run.sc_height_um.isel(time=frame).values, expected["sc_height_um"].astype(np.float32)
    )
    for field_id, values in expected["fields"].items():
        stored = run.fields[field_id].isel(time=frame).values
        assert stored.dtype == np.float32
        np.testing.assert_array_equal(stored, values.astype(np.float32))
    cells = run.cells(frame)
    assert list(cells.columns) == list(CELL_COLUMNS)
    for name, values in expected["cells"].items():
        assert cells[name].dtype == np.dtype(CELL_COLUMNS[name])
        np.testing.assert_array_equal(cells[name].to_numpy(), values)


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("shape", [(6, 8), (5, 3, 4)], ids=["2d", "3d"])
def test_round_trip(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "run.h5"
    n_frames = 7
    with make_writer(path, shape) as writer:
        write_frames(writer, shape, range(n_frames))
        writer.append_timeseries(0.0, {"score_total": 1.5, "count_neutrophil": 3})
        writer.append_timeseries(0.1, {"viable_epidermis_thickness_um": 62.5})
        writer.append_events([(0.5, "inject", "msc", 1.0e6, "intradermal, 10 µL")])
        writer.append_events([(1.0, "drug", "anti_il17a", 2.5, ""), (2.0, "stop", "", 0.0, "end")])
        writer.set_attr("status", "completed")
        assert writer.n_frames == n_frames

    run = open_run(path)
    assert run.n_frames == n_frames
    dims = ("z", "x") if len(shape) == 2 else ("z", "y", "x")

    # attributes
    assert run.attrs["seed"] == MAX_SEED and isinstance(run.attrs["seed"], int)
    assert run.attrs["scenario"] == "name: test\nmsc:\n  dose_cells: 1.0e6\n"
    assert run.attrs["git_commit"] == "0123abc"
    assert run.attrs["note"] == {"arm": "msc", "doses": [1, 2]}
    assert run.attrs["dims"] == dims
    assert run.attrs["voxel_um"] == 10.0
    assert run.attrs["schema_version"] == SCHEMA_VERSION
    assert run.attrs["mscabm_version"] == __version__
    assert run.attrs["status"] == "completed"
    assert run.attrs["platform"]["numpy"] == np.__version__
    assert "cython" in run.attrs["build"]
    assert datetime.fromisoformat(run.attrs["created"]).tzinfo is not None

    # fields as xarray
    assert set(run.fields.data_vars) == {"il17a", "ll37_dna"}
    assert run.fields["il17a"].dims == ("time", *dims)
    np.testing.assert_array_equal(run.fields["time"].values, 0.25 * np.arange(n_frames))
    for axis, dim in enumerate(dims):
        np.testing.assert_allclose(run.fields[dim].values, (np.arange(shape[axis]) + 0.5) * 10.0)
        assert run.fields[dim].attrs["units"] == "um"
    assert run.fields["il17a"].attrs["display_name"] == "IL-17A"
    assert run.fields["ll37_dna"].attrs["units"] == "pg/mL"
    assert run.fields["ll37_dna"].attrs["half_life_min"] == 120.0
    assert run.fields["il17a"].attrs["diffusion_um2_per_min"] == 6000.0
    assert run.tissue.attrs["codes"] == LATTICE_CODES
    assert run.tissue.dtype == np.uint8
    assert run.sc_height_um.dims == ("time", *dims[1:])
    for frame in range(n_frames):
        check_frame(run, shape, frame)
    whole = run.fields["il17a"].values  # the whole array at once, too
    assert whole.shape == (n_frames, *shape)
    np.testing.assert_array_equal(
        whole[3], frame_inputs(shape, 3)["fields"]["il17a"].astype(np.float32)
    )
    assert run.cells(-1).shape[0] == (3 * (n_frames - 1)) % 5
    with pytest.raises(IndexError, match="out of range"):
        run.cells(n_frames)

    # time series: NaN where a name was not given
    series = run.timeseries
    assert list(series.columns) == list(TIMESERIES)
    assert series.index.name == "time_days"
    np.testing.assert_array_equal(series.index.to_numpy(), [0.0, 0.1])
    assert series.loc[0.0, "score_total"] == 1.5
    assert series.loc[0.0, "count_neutrophil"] == 3.0
    assert np.isnan(series.loc[0.0, "viable_epidermis_thickness_um"])
    assert series.loc[0.1, "viable_epidermis_thickness_um"] == 62.5
    assert np.isnan(series.loc[0.1, "score_total"])

    # events
    events = run.events
    assert list(events.columns) == ["day", "kind", "target", "amount", "note"]
    assert events.to_dict("records") == [
        {
            "day": 0.5,
            "kind": "inject",
            "target": "msc",
            "amount": 1.0e6,
            "note": "intradermal, 10 µL",
        },
        {"day": 1.0, "kind": "drug", "target": "anti_il17a", "amount": 2.5, "note": ""},
        {"day": 2.0, "kind": "stop", "target": "", "amount": 0.0, "note": "end"},
    ]


def test_run_data_pickles_and_stays_lazy(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with make_writer(path) as writer:
        write_frames(writer, (6, 8), range(4))
    run = pickle.loads(pickle.dumps(open_run(path)))  # Dask ships results between processes
    assert "n_frames=4" in repr(run)
    check_frame(run, (6, 8), 2)
    assert float(run.fields["il17a"].isel(time=3).max()) == pytest.approx(3 + 47 / 7.0, rel=1e-6)


def test_falls_back_to_plain_writes_when_swmr_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(file: h5py.File, value: bool) -> None:
        raise OSError("SWMR not supported on this file system (simulated NFS)")

    monkeypatch.setattr(h5py.File, "swmr_mode", property(h5py.File.swmr_mode.fget, refuse))
    path = tmp_path / "nfs.h5"
    with pytest.warns(RuntimeWarning, match="plain flushed writes"):
        writer = make_writer(path)
    with writer:
        assert not writer.swmr
        write_frames(writer, (6, 8), range(3))
        writer.set_attr("status", "completed")
    monkeypatch.undo()
    run = open_run(path)
    assert run.n_frames == 3
    assert run.attrs["status"] == "completed"
    check_frame(run, (6, 8), 2)


def test_raw_layout_with_h5py(tmp_path: Path) -> None:
    """What plain h5py users (and netCDF-aware readers) see."""
    path = tmp_path / "run.h5"
    shape = (6, 8)
    with make_writer(path, shape) as writer:
        write_frames(writer, shape, range(3))
    with h5py.File(path, "r") as file:
        assert file.attrs["seed"].dtype == np.uint64
        assert int(file.attrs["seed"]) == MAX_SEED
        assert json.loads(file.attrs["platform"])["h5py"] == h5py.__version__
        assert file["time"].dtype == np.float64 and file["time"].shape == (3,)
        field = file["fields/il17a"]
        assert field.dtype == np.float32
        assert field.chunks == (1, *shape)
        assert field.compression is None
        assert [dim.label for dim in field.dims] == ["time", "z", "x"]
        for axis, name in enumerate(["time", "z", "x"]):
            assert list(field.dims[axis].keys()) == [name]
            assert field.dims[axis][0].attrs["units"] in ("days", "um")
        assert file["fields/time"] == file["time"]  # the same dataset object (hard link)
        assert file["cells/cell_id"].compression == "gzip"
        assert file["cells/cell_id"].dtype == np.uint64
        assert file["cells/voxel"].dtype == np.int64
        assert file["cells/frame_offsets"].shape == (4,)
        np.testing.assert_array_equal(file["cells/frame_offsets"][()], [0, 0, 3, 4])
        assert json.loads(file["lattice/tissue"].attrs["codes"]) == LATTICE_CODES
        assert json.loads(file["lattice/net"].attrs["codes"]) == {"none": 0, "net": 1}
        assert "codes" not in file["cells/type"].attrs  # only when the writer is given them
        assert file["lattice/tissue"].dtype == np.uint8
        assert file["lattice/sc_height_um"].shape == (3, 8)


def test_write_frame_rejects_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    shape = (6, 8)
    with make_writer(tmp_path / "run.h5", shape) as writer:
        write_frames(writer, shape, range(2))
        good = frame_inputs(shape, 2)
        bad_inputs = [
            {**good, "tissue": np.zeros((6, 9), np.uint8)},
            {**good, "tissue": np.full(shape, 300)},
            {**good, "sc_height_um": np.zeros(7)},
            {**good, "fields": {"il17a": good["fields"]["il17a"]}},
            {**good, "fields": {**good["fields"], "il99": good["fields"]["il17a"]}},
            {**good, "cells": {**good["cells"], "colour": np.zeros(0)}},
            {**good, "cells": {**good["cells"], "type": np.zeros(5, np.uint8)}},
            {**good, "cells": {**good["cells"], "voxel": np.zeros(len(good["cells"]["voxel"]))}},
        ]
        for inputs in bad_inputs:
            with pytest.raises(ValueError):
                writer.write_frame(0.5, **inputs)
        with pytest.raises(ValueError, match="later than"):
            writer.write_frame(0.25, **good)
        with pytest.raises(ValueError, match="unknown time-series"):
            writer.append_timeseries(0.0, {"score_totl": 1.0})
        with pytest.raises(ValueError, match="kind"):
            writer.append_events([(0.0, "k" * 65, "msc", 0.0, "")])
        writer.append_events([(0.0, "note", "msc", 0.0, "ü" * 2000)])
        assert writer.n_frames == 2
        assert writer.write_frame(0.5, **good) == 2
    run = open_run(tmp_path / "run.h5")
    assert run.n_frames == 3
    check_frame(run, shape, 2)
    note = run.events["note"][0]
    assert note.endswith("…") and len(note.encode()) <= 1024 and note.startswith("üü")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dims": ("x", "z")}, "dims"),
        ({"shape": (6, 0)}, "shape"),
        ({"voxel_um": -1.0}, "voxel_um"),
        ({"fields": (FieldMeta("IL-17A", "", "", "", 1.0, 1.0),)}, "must match"),
        ({"fields": (FieldMeta("z", "", "", "", 1.0, 1.0),)}, "reserved"),
        ({"fields": FIELDS + FIELDS[:1]}, "twice"),
        ({"timeseries_names": ("time_days",)}, "reserved"),
        ({"cell_columns": {"frame_offsets": np.int64}}, "reserved"),
        ({"cell_columns": {"name": np.dtype("U4")}}, "not numeric"),
        ({"lattice_codes": {"none": 0, "big": 256}}, "0..255"),
        ({"cell_codes": {"nothing": {"a": 1}}}, "not an integer cell column"),
        ({"cell_codes": {"type": {"a": 300}}}, "must fit uint8"),
        ({"attrs": {"seed": 1}}, "scenario"),
        ({"attrs": {"seed": -1, "scenario": ""}}, "seed"),
        ({"attrs": {"seed": 1, "scenario": "", "schema_version": 9}}, "set by RunWriter"),
    ],
)
def test_writer_validates_layout(tmp_path: Path, overrides: dict, message: str) -> None:
    path = tmp_path / "run.h5"
    with pytest.raises(ValueError, match=message):
        make_writer(path, **overrides)
    assert not path.exists()


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with make_writer(path) as writer:
        write_frames(writer, (6, 8), range(2))
    with pytest.raises(FileExistsError) as excinfo:
        make_writer(path)
    assert str(path) in str(excinfo.value)
    assert open_run(path).n_frames == 2  # untouched
    with make_writer(path, overwrite=True) as writer:
        write_frames(writer, (6, 8), range(1))
    assert open_run(path).n_frames == 1


# ---------------------------------------------------------------------------------------------
# completeness, resume


def test_frame_without_time_is_not_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.h5"
    shape = (6, 8)
    writer = make_writer(path, shape)
    write_frames(writer, shape, range(3))

    def fail_before_time(index: int, time_days: float) -> None:
        raise OSError("simulated crash before /time is extended")

    monkeypatch.setattr(writer, "_commit_frame", fail_before_time)
    with pytest.raises(OSError, match="simulated crash"):
        writer.write_frame(0.75, **frame_inputs(shape, 3))
    writer.flush()
    with h5py.File(path, "r", swmr=True) as file:  # every frame dataset already has 4 rows
        assert file["lattice/tissue"].shape[0] == 4
        assert file["fields/il17a"].shape[0] == 4
        assert file["cells/frame_offsets"].shape[0] == 5
        assert file["time"].shape[0] == 3
    run = open_run(path)
    assert run.n_frames == 3
    assert run.fields.sizes["time"] == 3
    assert run.tissue.shape[0] == 3
    assert len(run.cell_offsets) == 4
    assert describe_run(path)["n_frames"] == 3

    monkeypatch.undo()  # the writer recovers: the next frame reuses index 3
    assert writer.write_frame(0.75, **frame_inputs(shape, 4)) == 3
    writer.close()
    run = open_run(path)
    assert run.n_frames == 4
    np.testing.assert_array_equal(run.tissue.isel(time=3).values, frame_inputs(shape, 4)["tissue"])
    np.testing.assert_array_equal(run.cells(3)["voxel"], frame_inputs(shape, 4)["cells"]["voxel"])

    # Rows beyond /time written by other means are ignored as well.
    with h5py.File(path, "r+") as file:
        for name in ["lattice/tissue", "lattice/mobile", "fields/il17a", "fields/ll37_dna"]:
            file[name].resize(6, axis=0)
            file[name][4:] = 1
    assert open_run(path).n_frames == 4


def test_reopen_for_resume_truncates_and_continues(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    shape = (5, 3, 4)
    with make_writer(path, shape) as writer:
        write_frames(writer, shape, range(6))
        for sample in range(6):
            writer.append_timeseries(sample, {"score_total": sample})
        writer.append_events([(day, "dose", "msc", day, "") for day in range(3)])

    with pytest.raises(RunFileError, match="n_frames=7"):
        RunWriter.reopen_for_resume(path, n_frames=7, n_timeseries=6, n_events=3)

    with RunWriter.reopen_for_resume(
        path, n_frames=4, n_timeseries=4, n_events=1, attrs={"resumed_at_step": 40}
    ) as writer:
        assert (writer.n_frames, writer.n_timeseries, writer.n_events) == (4, 4, 1)
        assert writer.swmr
        with pytest.raises(ValueError, match="later than"):
            writer.write_frame(0.75, **frame_inputs(shape, 10))  # frame 3 is at 0.75 days
        for frame in (4, 5):  # rewritten frames get new contents (those of frames 14, 15)
            writer.write_frame(0.25 * frame, **frame_inputs(shape, frame + 10))
        writer.write_frame(1.5, **frame_inputs(shape, 6))
        writer.append_timeseries(4.0, {"score_total": 40.0})
        writer.append_events([(9.0, "dose", "ev", 1.0, "after resume")])

    run = open_run(path)
    assert run.n_frames == 7
    assert run.attrs["resumed_at_step"] == 40
    np.testing.assert_array_equal(run.time_days, 0.25 * np.arange(7))
    for frame in range(4):
        check_frame(run, shape, frame)
    for frame in (4, 5):
        expected = frame_inputs(shape, frame + 10)
        np.testing.assert_array_equal(run.tissue.isel(time=frame).values, expected["tissue"])
        np.testing.assert_array_equal(run.cells(frame)["cell_id"], expected["cells"]["cell_id"])
    np.testing.assert_array_equal(run.cells(6)["voxel"], frame_inputs(shape, 6)["cells"]["voxel"])
    assert run.cell_offsets[-1] == sum(len(run.cells(frame)) for frame in range(7))
    assert run.timeseries["score_total"].tolist() == [0.0, 1.0, 2.0, 3.0, 40.0]
    assert run.events["target"].tolist() == ["msc", "ev"]


# ---------------------------------------------------------------------------------------------
# concurrent reading and killed writers (separate processes)

WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_io import make_writer, frame_inputs
    path, n_frames, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    shape = (6, 8)
    with make_writer(path, shape) as writer:
        for frame in range(n_frames):
            writer.write_frame(0.25 * frame, **frame_inputs(shape, frame))
            writer.append_timeseries(0.25 * frame, {{"score_total": frame}})
            print(frame, flush=True)
            time.sleep(pause)
        writer.set_attr("status", "completed")
    """
)


def start_writer(tmp_path: Path, path: Path, n_frames: int, pause: float) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT.format(tests=str(REPO_ROOT / "tests")))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), str(path), str(n_frames), str(pause)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_lines(process: subprocess.Popen, count: int) -> None:
    for _ in range(count):
        line = process.stdout.readline()
        assert line, f"writer ended early (exit code {process.wait()})"


def test_reader_sees_a_growing_run_while_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    n_frames = 40
    process = start_writer(tmp_path, path, n_frames, pause=0.04)
    try:
        wait_for_lines(process, 1)
        seen = []
        while process.poll() is None:
            run = open_run(path)
            seen.append(run.n_frames)
            if run.n_frames:
                check_frame(run, (6, 8), run.n_frames - 1)
            time.sleep(0.05)
        assert process.wait() == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert seen == sorted(seen)
    assert len(set(seen)) >= 3, seen
    assert min(seen) >= 1 and min(seen) < n_frames
    run = open_run(path)
    assert run.n_frames == n_frames
    assert run.attrs["status"] == "completed"
    assert run.timeseries["score_total"].tolist() == list(range(n_frames))


@pytest.mark.parametrize("frames_before_kill", [3, 11, 25])
def test_sigkill_leaves_a_readable_run(tmp_path: Path, frames_before_kill: int) -> None:
    path = tmp_path / "killed.h5"
    process = start_writer(tmp_path, path, 100_000, pause=0.0)
    try:
        wait_for_lines(process, frames_before_kill)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    finally:
        process.kill()
        process.wait()
        process.stdout.close()

    run = open_run(path)
    assert run.n_frames >= frames_before_kill
    for frame in sorted({0, *range(run.n_frames)[-3:], *range(0, run.n_frames, 7)}):
        check_frame(run, (6, 8), frame)
    summary = describe_run(path)
    assert summary["n_frames"] == run.n_frames
    assert summary["days"] == (0.0, 0.25 * (run.n_frames - 1))
    assert "status" not in run.attrs or run.attrs["status"] != "completed"

    # --resume after the kill: the superblock's "open for write" flags are cleared first.
    keep = frames_before_kill - 1
    with RunWriter.reopen_for_resume(path, n_frames=keep, n_timeseries=keep, n_events=0) as writer:
        write_frames(writer, (6, 8), range(keep, keep + 2))
    resumed = open_run(path)
    assert resumed.n_frames == keep + 2
    for frame in sorted({0, keep - 1, keep, keep + 1}):
        check_frame(resumed, (6, 8), frame)


# ---------------------------------------------------------------------------------------------
# errors a user can cause


def assert_run_file_error(path: Path, match: str) -> None:
    with pytest.raises(RunFileError, match=match) as excinfo:
        open_run(path)
    assert str(path) in str(excinfo.value)
    with pytest.raises(RunFileError) as excinfo:
        describe_run(path)
    assert str(path) in str(excinfo.value)


def test_run_file_errors(tmp_path: Path) -> None:
    assert_run_file_error(tmp_path / "missing.h5", "no such file")
    assert_run_file_error(tmp_path, "directory")

    text = tmp_path / "notes.h5"
    text.write_text("not hdf5 at all\n" * 100)
    assert_run_file_error(text, "not an HDF5 file")

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as file:
        file["data"] = np.arange(10)
    assert_run_file_error(foreign, "not an mscabm run file")

    newer = tmp_path / "newer.h5"
    with make_writer(newer) as writer:
        write_frames(writer, (6, 8), range(2))
    with h5py.File(newer, "r+") as file:
        file.attrs["schema_version"] = np.int64(SCHEMA_VERSION + 1)
    assert_run_file_error(newer, "newer")

    checkpoint = save_checkpoint(tmp_path / "run.h5", 3, {"a": np.zeros(2)}, {})
    assert_run_file_error(checkpoint, "checkpoint")


@pytest.mark.parametrize("cut_fraction", [0.001, 0.3, 0.9])
def test_truncated_run_file_is_reported(tmp_path: Path, cut_fraction: float) -> None:
    path = tmp_path / "run.h5"
    shape = (30, 40)
    with make_writer(path, shape) as writer:
        write_frames(writer, shape, range(10))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - max(1, int(cut_fraction * len(data)))])
    assert_run_file_error(path, "truncated")


def test_run_file_error_pickles() -> None:
    error = RunFileError(Path("/x/run.h5"), "not an HDF5 file")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == "/x/run.h5: not an HDF5 file"
    assert copy.path == Path("/x/run.h5")


def test_superblock_checksum_matches_lookup3_reference() -> None:
    # Published test values of Bob Jenkins' lookup3 hashlittle (initval 0).
    assert run_io._lookup3_checksum(b"") == 0xDEADBEEF
    assert run_io._lookup3_checksum(b"Four score and seven years ago") == 0x17770551


# ---------------------------------------------------------------------------------------------
# checkpoints


def checkpoint_arrays() -> dict[str, np.ndarray]:
    return {
        "seed": np.array(MAX_SEED, dtype=np.uint64),
        "cells/cell_id": np.array([0, 2**63, MAX_SEED], dtype=np.uint64),
        "cells/alive": np.array([True, False, True]),
        "cells/timer_h": np.array([0.5, np.nan, -1.25]),
        "fields/il17a": np.linspace(0.0, 1.0, 24).reshape(2, 3, 4),
        "lattice/tissue": np.arange(12, dtype=np.uint8).reshape(3, 4),
        "empty": np.zeros((0, 3), dtype=np.int32),
        "clock_step": np.array(1234, dtype=np.int64),
        "flag": np.bool_(True),
        "complex": np.array([1 + 2j]),
    }


def checkpoint_meta() -> dict:
    return {
        "seed": MAX_SEED,
        "numpy_seed": np.uint64(MAX_SEED),
        "step": 1234,
        "time_days": 5.125,
        "writer": {"n_frames": 12, "n_timeseries": 480, "n_events": 2},
        "events": [{"day": 3.0, "kind": "inject", "target": "msc", "done": False}],
        "scenario": "name: x\n",
        "nothing": None,
    }


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    run_path = tmp_path / "run.h5"
    arrays = checkpoint_arrays()
    path = save_checkpoint(run_path, 1234, arrays, checkpoint_meta())
    assert path == tmp_path / "run.checkpoints" / "step_0000001234.h5"
    loaded, meta = load_checkpoint(path)
    assert set(loaded) == set(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == np.asarray(array).dtype, name
        assert loaded[name].shape == np.asarray(array).shape, name
        np.testing.assert_array_equal(loaded[name], array)
    assert int(loaded["seed"]) == MAX_SEED
    assert meta["seed"] == MAX_SEED and type(meta["seed"]) is int
    assert meta["numpy_seed"] == MAX_SEED
    expected = checkpoint_meta()
    expected["numpy_seed"] = MAX_SEED
    assert meta == expected


def test_checkpoint_rejects_non_numeric(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not numeric"):
        save_checkpoint(tmp_path / "run.h5", 1, {"names": np.array(["a", "b"])}, {})
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "run.h5", 1, {}, {"when": datetime.now()})
    assert list_checkpoints(tmp_path / "run.h5") == []


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_path = tmp_path / "run.h5"
    first = save_checkpoint(run_path, 10, {"x": np.zeros(3)}, {"version": 1})
    directory = checkpoint_dir(run_path)
    real_replace = os.replace
    seen_at_rename = {}

    def checking_replace(source, destination) -> None:
        # When the rename happens the temporary file is complete and the final file still
        # holds the previous checkpoint: nothing partial is ever visible under the final name.
        seen_at_rename["source"] = load_checkpoint(source)
        seen_at_rename["destination"] = load_checkpoint(destination)
        real_replace(source, destination)

    monkeypatch.setattr(run_io.os, "replace", checking_replace)
    save_checkpoint(run_path, 10, {"x": np.ones(3)}, {"version": 2})
    assert seen_at_rename["source"][1] == {"version": 2}
    assert seen_at_rename["destination"][1] == {"version": 1}
    assert load_checkpoint(first)[1] == {"version": 2}

    def crash(source, destination) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(run_io.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(run_path, 10, {"x": np.full(3, 7.0)}, {"version": 3})
    monkeypatch.undo()
    assert load_checkpoint(first)[1] == {"version": 2}  # the old checkpoint is intact
    assert sorted(p.name for p in directory.iterdir()) == ["step_0000000010.h5"]  # no leftovers


def test_list_checkpoints_sorted_and_ignores_temporaries(tmp_path: Path) -> None:
    run_path = tmp_path / "arm_a.h5"
    assert list_checkpoints(run_path) == []
    for step in (300, 5, 10_000_000, 40):
        save_checkpoint(run_path, step, {"step": np.array(step)}, {"step": step})
    directory = checkpoint_dir(run_path)
    (directory / ".step_0000000999.h5.abc123.tmp").write_bytes(b"\x89HDF partial")
    (directory / "step_0000000777.h5.tmp").write_bytes(b"partial")
    (directory / "notes.txt").write_text("hello")
    listed = list_checkpoints(run_path)
    assert [step for step, _ in listed] == [5, 40, 300, 10_000_000]
    for step, path in listed:
        assert path.parent == directory
        assert load_checkpoint(path)[1] == {"step": step}
    with make_writer(run_path) as writer:
        write_frames(writer, (6, 8), range(1))
    described = describe_run(run_path)["checkpoints"]
    assert [entry["step"] for entry in described] == [5, 40, 300, 10_000_000]


def test_checkpoint_dir_naming(tmp_path: Path) -> None:
    assert checkpoint_dir(tmp_path / "run.h5") == tmp_path / "run.checkpoints"
    assert checkpoint_dir(tmp_path / "run.h5.partial") == tmp_path / "run.checkpoints"
    assert checkpoint_dir("runs/a.b.h5") == Path("runs/a.b.checkpoints")


def test_load_checkpoint_errors(tmp_path: Path) -> None:
    missing = tmp_path / "step_0000000001.h5"
    with pytest.raises(RunFileError, match="no such file") as excinfo:
        load_checkpoint(missing)
    assert str(missing) in str(excinfo.value)
    run_path = tmp_path / "run.h5"
    with make_writer(run_path) as writer:
        write_frames(writer, (6, 8), range(1))
    with pytest.raises(RunFileError, match="not an mscabm checkpoint"):
        load_checkpoint(run_path)
