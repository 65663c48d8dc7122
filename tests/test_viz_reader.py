"""mscabm.viz without a browser: the lazy frame reader, its errors, live and killed runs,
PNG encoding, palettes and colour scales, and the `view`/`report` commands' error messages."""

from __future__ import annotations

import base64
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner
from viz_helpers import NET_AT, NEUTROPHIL_AT, field_values, tissue_layers, write_tiny_run

from mscabm._version import SCHEMA_VERSION
from mscabm.cli import app as cli_app
from mscabm.io import RunFileError, open_run
from mscabm.viz import SliceSpec, open_reader
from mscabm.viz.render import (
    MOBILE_STYLE,
    TISSUE_COLOURS,
    FieldScale,
    colourmap_lut,
    encode_png,
    quantise,
    tissue_to_rgb,
)
from mscabm.vocab import IMMUNE_TYPES, TISSUE_CODES, CellType

REPO_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# reading frames


def test_reader_reads_each_frame_as_written(tmp_path: Path) -> None:
    path = write_tiny_run(tmp_path / "run.h5")
    reader = open_reader(path)
    assert reader.n_frames == 4
    np.testing.assert_array_equal(reader.time_days, [0.0, 0.5, 1.0, 1.5])
    assert reader.dims == ("z", "x") and reader.shape == (12, 16)
    assert [f.id for f in reader.fields] == ["il17a", "cxcl8"]
    assert reader.field_info("il17a").display_name == "IL-17A"
    assert reader.field_info("il17a").units == "pg/mL"
    for frame in range(4):
        np.testing.assert_array_equal(reader.layer("tissue", frame), tissue_layers((12, 16)))
        np.testing.assert_array_equal(
            reader.field("il17a", frame), field_values((12, 16), frame, 0.5).astype(np.float32)
        )
        mobile = reader.layer("mobile", frame)
        assert reader.mobile_codes[int(mobile[NEUTROPHIL_AT])] == "neutrophil"
        assert reader.mobile_codes[int(mobile[6, 1 + frame])] == "th17"
        assert reader.layer("net", frame)[NET_AT] == 1
    assert reader.frame_at_day(1.2) == 2
    assert reader.frame_at_day(-0.1) is None
    assert list(reader.timeseries["score_total"]) == [0, 1, 2, 3]
    with pytest.raises(IndexError, match="frame 4 out of range"):
        reader.field("il17a", 4)
    with pytest.raises(KeyError, match="no field 'il99'"):
        reader.field("il99", 0)


def test_maps_crop_the_air_above_the_tissue(tmp_path: Path) -> None:
    from mscabm.viz.figures import tissue_figure_dict

    reader = open_reader(write_tiny_run(tmp_path / "tall.h5", shape=(40, 16), n_frames=2))
    # tissue_layers fills rows 0-8; 3 rows of margin
    assert reader.tissue_height_rows() == 12
    assert reader.shown_shape(reader.default_slice()) == (12, 16)
    figure = tissue_figure_dict(reader, 1)
    assert figure["layout"]["yaxis"]["range"] == [0, 12 * reader.voxel_um]
    decoded = decode_png(base64.b64decode(figure["data"][0]["source"].split(",", 1)[1]))
    assert decoded.shape == (12, 16, 3)
    block = open_reader(write_tiny_run(tmp_path / "block.h5", shape=(40, 4, 16), n_frames=1))
    assert block.shown_shape(SliceSpec("z", 3)) == (4, 16)  # a horizontal plane is not cropped
    assert block.shown_shape(SliceSpec("x", 3)) == (12, 4)


def test_field_range_covers_the_run(tmp_path: Path) -> None:
    reader = open_reader(write_tiny_run(tmp_path / "run.h5"))
    low, high = reader.field_range("il17a")
    assert low == pytest.approx(0.5)  # frame 0, first voxel
    assert high == pytest.approx(0.5 * 4 * 12 * 16)  # frame 3, last voxel
    low_positive, _ = reader.field_range("cxcl8", positive=True)
    assert low_positive == pytest.approx(1e-6, rel=1e-5)


def test_3d_slices(tmp_path: Path) -> None:
    shape = (12, 4, 16)
    reader = open_reader(write_tiny_run(tmp_path / "block.h5", shape=shape, n_frames=2))
    full = field_values(shape, 1, 0.5).astype(np.float32)
    assert reader.is_3d and reader.default_slice() == SliceSpec("y", 2)
    np.testing.assert_array_equal(reader.field("il17a", 1, SliceSpec("y", 3)), full[:, 3, :])
    np.testing.assert_array_equal(reader.field("il17a", 1, SliceSpec("x", 5)), full[:, :, 5])
    np.testing.assert_array_equal(reader.field("il17a", 1, SliceSpec("z", 7)), full[7])
    assert reader.plane_shape(SliceSpec("z", 0)) == (4, 16)
    assert reader.plane_shape(SliceSpec("x", 0)) == (12, 4)
    assert reader.voxel_index(SliceSpec("x", 5), 7, 2) == (7, 2, 5)
    assert reader.voxel_index(SliceSpec("z", 7), 3, 15) == (7, 3, 15)
    assert reader.voxel_index(SliceSpec("z", 7), 4, 0) is None
    with pytest.raises(IndexError, match="slice y=4"):
        reader.field("il17a", 0, SliceSpec("y", 4))
    with pytest.raises(ValueError, match="slice axis"):
        reader.field("il17a", 0, SliceSpec(None, 0))


def test_describe_voxel_names_what_is_there(tmp_path: Path) -> None:
    reader = open_reader(write_tiny_run(tmp_path / "run.h5"))
    here = reader.describe_voxel(2, NEUTROPHIL_AT)
    assert here["tissue"] == "spinous"
    assert here["mobile"] == "neutrophil"
    assert not here["net"]
    assert [(c["type"], c["id"]) for c in here["cells"]] == [("neutrophil", 500)]
    flat = int(np.ravel_multi_index(NEUTROPHIL_AT, reader.shape))
    expected = dict(
        zip(["IL-17A", "CXCL8"], [0.5 * 3 * (1 + flat), (0.001 * 3 * (1 + flat)) ** 2], strict=True)
    )
    for name, value, units in here["fields"]:
        assert units == "pg/mL"
        assert value == pytest.approx(expected[name], rel=1e-6)
    above = reader.describe_voxel(2, (NEUTROPHIL_AT[0] + 1, NEUTROPHIL_AT[1]))
    assert [(c["type"], c["state"]) for c in above["cells"]] == [("keratinocyte", "spinous")]
    assert reader.describe_voxel(0, NET_AT)["net"]
    assert reader.describe_voxel(0, (11, 0))["tissue"] == "air"


def test_cell_types_are_named_by_the_table_stored_in_the_file(tmp_path: Path) -> None:
    """A run carries its cell-type names (/cells/type "codes"); the viewer names cells by that
    table, and by this package's table only for files written without one."""
    stored = {"basal_kc": int(CellType.KERATINOCYTE), "pmn": int(CellType.NEUTROPHIL)}
    path = write_tiny_run(tmp_path / "run.h5", cell_codes={"type": stored})
    assert open_run(path).cell_codes == {"type": stored}
    reader = open_reader(path)
    assert [c["type"] for c in reader.describe_voxel(2, NEUTROPHIL_AT)["cells"]] == ["pmn"]
    assert open_run(write_tiny_run(tmp_path / "old.h5")).cell_codes == {}


# ---------------------------------------------------------------------------------------------
# errors a user can cause: one clear message naming the file, and no traceback from the CLI


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n" * 50)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as file:
        file["data"] = np.arange(3)
    newer = write_tiny_run(tmp_path / "newer.h5", n_frames=1)
    with h5py.File(newer, "r+") as file:
        file.attrs["schema_version"] = np.int64(SCHEMA_VERSION + 1)
    truncated = write_tiny_run(tmp_path / "truncated.h5", shape=(30, 40), n_frames=6)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {
        "missing": (tmp_path / "missing.h5", "no such file"),
        "text": (text, "not an HDF5 file"),
        "foreign": (foreign, "not an mscabm run file"),
        "newer": (newer, "newer"),
        "truncated": (truncated, "truncated"),
    }


def test_reader_errors(tmp_path: Path) -> None:
    for path, message in bad_files(tmp_path).values():
        with pytest.raises(RunFileError, match=message) as excinfo:
            open_reader(path)
        assert str(path) in str(excinfo.value)


@pytest.mark.parametrize("command", ["view", "report"])
def test_cli_prints_one_line_without_traceback(tmp_path: Path, command: str) -> None:
    runner = CliRunner()
    for path, message in bad_files(tmp_path).values():
        arguments = [command, str(path)]
        if command == "report":
            arguments += ["-o", str(tmp_path / "report.html")]
        else:
            arguments += ["--port", "0"]
        result = runner.invoke(cli_app, arguments)
        output = result.output
        assert result.exit_code == 2, output
        assert message in output and str(path.name) in output
        assert "Traceback" not in output
        assert not (tmp_path / "report.html").exists()


def test_view_command_serves_the_app(tmp_path: Path) -> None:
    """`mscabm view RUN --port 0` binds 127.0.0.1, prints its URL and serves the Dash app."""
    import json
    import urllib.request

    path = write_tiny_run(tmp_path / "run.h5")
    process = subprocess.Popen(
        [sys.executable, "-m", "mscabm.cli", "view", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "serving 1 run(s) at http://127.0.0.1:" in line, (line, process.stderr.read())
        url = line.split(" at ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=30) as response:
            assert "mscabm view" in response.read().decode()
        with urllib.request.urlopen(url + "_dash-layout", timeout=30) as response:
            layout = json.loads(response.read())
        assert "frame-slider" in json.dumps(layout)
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()


def test_view_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    path = write_tiny_run(tmp_path / "run.h5")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, ["view", str(path), "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------------------------------------
# runs being written, and runs whose writer was killed

WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from viz_helpers import write_tiny_run

    def pause(frame):
        print(frame, flush=True)
        time.sleep(float(sys.argv[3]))

    write_tiny_run(Path(sys.argv[1]), n_frames=int(sys.argv[2]), writer_pause=pause)
    """
)


def start_writer(tmp_path: Path, path: Path, n_frames: int, pause: float) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT.format(tests=str(REPO_ROOT / "tests")))
    return subprocess.Popen(
        [sys.executable, str(script), str(path), str(n_frames), str(pause)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def test_reader_follows_a_run_being_written(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    process = start_writer(tmp_path, path, n_frames=30, pause=0.05)
    try:
        assert process.stdout.readline().strip() == "0"
        reader = open_reader(path)
        first = reader.n_frames
        assert 1 <= first < 30
        assert reader.attrs["status"] == "running"
        last = reader.n_frames - 1
        np.testing.assert_array_equal(
            reader.field("il17a", last), field_values((12, 16), last, 0.5).astype(np.float32)
        )
        seen = [first]
        while process.poll() is None:
            reader = reader.refreshed()
            seen.append(reader.n_frames)
            time.sleep(0.05)
        assert process.wait() == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert seen == sorted(seen) and len(set(seen)) >= 3, seen
    assert open_reader(path).n_frames == 30


def test_viewer_state_syncs_runs_and_follows_a_live_run(tmp_path: Path) -> None:
    from mscabm.viz.app import ViewerState

    finished = write_tiny_run(tmp_path / "done.h5", n_frames=3)
    live = tmp_path / "live.h5"
    process = start_writer(tmp_path, live, n_frames=12, pause=0.1)
    try:
        assert process.stdout.readline().strip() == "0"
        state = ViewerState.from_paths([finished, live])
        live_frames = state.readers[1].n_frames
        assert 1 <= live_frames < 12
        # the union of frame times; each run shows its last frame at or before the day
        assert list(state.timeline_days[:3]) == [0.0, 0.5, 1.0]
        assert state.readers[0].frame_at_day(1.0) == 2
        deadline = time.monotonic() + 30
        while not state.refresh():
            assert time.monotonic() < deadline, "the live run never grew"
            time.sleep(0.05)
        assert state.readers[1].n_frames > live_frames
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    while state.refresh():
        pass
    assert len(state.timeline_days) == 12
    assert state.readers[0].frame_at_day(state.day(11)) == 2
    assert not state.refresh()  # complete runs are not reopened


def test_killed_writer_opens_up_to_last_complete_frame(tmp_path: Path) -> None:
    path = tmp_path / "killed.h5"
    process = start_writer(tmp_path, path, n_frames=1000, pause=0.01)
    try:
        for _ in range(5):
            assert process.stdout.readline()
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    reader = open_reader(path)
    assert 5 <= reader.n_frames < 1000
    assert reader.attrs["status"] == "running"
    for frame in (0, reader.n_frames - 1):
        np.testing.assert_array_equal(
            reader.field("cxcl8", frame),
            (field_values((12, 16), frame, 0.001) ** 2).astype(np.float32),
        )


def test_simulation_killed_mid_run_replays_its_frames(tmp_path: Path) -> None:
    """A real `mscabm run` killed once it has written a few frames (SIGKILL, no cleanup)."""
    path = tmp_path / "sim.h5"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mscabm.cli", "run", "imq_mouse", "-o", str(path), "-q",
            "--seed", "5", "--days", "20", "--set", "geometry.width_um=100",
            "--set", "time.frame_interval_days=0.05",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        frames = 0
        while frames < 3:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the simulation wrote no frames in 120 s"
            time.sleep(0.2)
            if path.exists():
                try:
                    frames = open_reader(path).n_frames
                except RunFileError:
                    frames = 0  # the writer has not finished creating the layout
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    reader = open_reader(path)
    assert reader.n_frames >= 3
    assert reader.attrs["status"] == "running"
    assert np.all(np.diff(reader.time_days) > 0)
    last = reader.n_frames - 1
    assert reader.layer("tissue", last).shape == reader.shape
    assert np.isfinite(reader.field("il17a", last)).all()
    from mscabm.viz.figures import FieldView, field_figure, tissue_figure

    assert tissue_figure(reader, last).data[0].source.startswith("data:image/png;base64,")
    assert (
        field_figure(reader, FieldView("il17a"), last).data[0].source.startswith("data:image/png")
    )


# ---------------------------------------------------------------------------------------------
# rendering


def decode_png(data: bytes) -> np.ndarray:
    """A minimal PNG reader (8-bit RGB, any of the five row filters) written for this test."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    idat = b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF
        if kind == b"IDAT":
            idat += payload
        chunks[kind] = payload
        position += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (8, 2)
    raw = zlib.decompress(idat)
    stride = 3 * width
    out = np.zeros((height, stride), dtype=np.int64)
    for row in range(height):
        kind = raw[row * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=row * (stride + 1) + 1)
        up = out[row - 1] if row else np.zeros(stride, dtype=np.int64)
        if kind == 0:
            out[row] = line
        elif kind == 2:
            out[row] = (line.astype(np.int64) + up) % 256
        else:
            raise AssertionError(f"filter {kind} not expected from encode_png")
    return out.reshape(height, width, 3).astype(np.uint8)


def test_png_round_trip() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(image)), image)
    with pytest.raises(ValueError, match="RGB image"):
        encode_png(np.zeros((3, 4), dtype=np.uint8))


def test_quantised_field_png_is_far_smaller_than_float_json() -> None:
    values = field_values((256, 256), 0, 1.0)
    values = np.sin(values / 900.0) + 1.0
    png = encode_png(colourmap_lut()[quantise(values, FieldScale.of_values(values, log=False))])
    as_json = len(",".join(f"{v:.6g}" for v in values.ravel().astype(np.float32)))
    assert len(png) * 5 < as_json


def test_palettes_cover_the_vocabulary_and_are_unambiguous() -> None:
    assert set(TISSUE_CODES) <= set(TISSUE_COLOURS)
    assert len(set(TISSUE_COLOURS.values())) == len(TISSUE_COLOURS)
    assert set(IMMUNE_TYPES) <= set(MOBILE_STYLE)
    styles = [(style.colour, style.symbol) for style in MOBILE_STYLE.values()]
    assert len(set(styles)) == len(styles)
    codes = {code: name for name, code in TISSUE_CODES.items()}
    rgb = tissue_to_rgb(np.array([[TISSUE_CODES["dermis"], 200]], dtype=np.uint8), codes)
    assert tuple(rgb[0, 0]) == (0xEE, 0xDD, 0x88)
    assert tuple(rgb[0, 1]) != (0, 0, 0)  # an unknown code still gets a visible colour


def test_field_scales() -> None:
    linear = FieldScale.of_range(0.0, 10.0, log=False)
    np.testing.assert_allclose(
        linear.normalise(np.array([-1.0, 0.0, 5.0, 10.0, 20.0])), [0, 0, 0.5, 1, 1]
    )
    log = FieldScale.of_range(0.0, 1000.0, log=True)
    assert log.low == pytest.approx(1e-3)  # six decades below the top
    np.testing.assert_allclose(log.normalise(np.array([1.0, 1000.0, 0.0])), [0.5, 1.0, 0.0])
    cmin, cmax, _ticks, labels = log.colourbar_ticks()
    assert (cmin, cmax) == pytest.approx((-3.0, 3.0))
    assert labels[0] == "0.001" and labels[-1] == "1e+03"
    flat = FieldScale.of_range(2.0, 2.0, log=False)
    assert flat.low < 2.0 < flat.high
    assert FieldScale.of_range(0.0, 0.0, log=False) == FieldScale(0.0, 1.0, False)
    assert quantise(np.array([np.nan, 10.0]), linear).tolist() == [0, 255]
