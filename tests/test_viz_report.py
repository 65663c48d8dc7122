"""`mscabm report`: a self-contained HTML file under a size limit, saying what it kept;
never overwriting without --force; image export through kaleido (the system's Chromium)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner
from viz_helpers import viz_dependencies_or_skip, write_tiny_run

viz_dependencies_or_skip()

import plotly.io as pio  # noqa: E402

from mscabm.cli import app as cli_app  # noqa: E402
from mscabm.viz.report import ReportError, write_report  # noqa: E402


def test_report_is_self_contained_and_complete(tmp_path: Path) -> None:
    first = write_tiny_run(tmp_path / "a.h5")
    second = write_tiny_run(tmp_path / "b.h5", n_frames=3)
    output = tmp_path / "report.html"
    summary = write_report([first, second], output)
    text = output.read_text(encoding="utf-8")
    assert summary.size_bytes == output.stat().st_size <= 20e6
    umask = os.umask(0)
    os.umask(umask)
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask  # shareable, not mkstemp's 0600
    # plotly.js inlined once; no script or stylesheet from the network
    assert len(re.findall(r"<script[^>]*\bsrc=", text)) == 0
    assert "<link" not in text
    assert text.count("plotly.js v") >= 1
    # animation of tissue and field per run, time series, provenance and scenario
    assert 'id="animation-0"' in text and 'id="animation-1"' in text and 'id="timeseries"' in text
    assert summary.kept == [
        "4 of 4 frames; full spatial resolution (12 × 16)",
        "3 of 3 frames; full spatial resolution (12 × 16)",
    ]
    assert "Animation keeps 4 of 4 frames; full spatial resolution (12 × 16)" in text
    assert "IL-17A (pg\\u002fmL, linear)" in text  # plotly escapes "/" in its JSON
    for needle in ("<th>seed</th><td>123</td>", "<th>scenario</th><td>tiny</td>",
                   "<th>mscabm version</th>", "name: tiny", "fix_field", "test event"):  # fmt: skip
        assert needle in text, needle


def test_report_of_a_run_without_frames(tmp_path: Path) -> None:
    empty = write_tiny_run(tmp_path / "empty.h5", n_frames=0)
    summary = write_report([empty, write_tiny_run(tmp_path / "run.h5")], tmp_path / "r.html")
    assert summary.kept[0] == "no complete frame"
    assert "This run has no complete frame yet." in (tmp_path / "r.html").read_text(
        encoding="utf-8"
    )


def test_report_thins_frames_then_space_to_stay_under_the_limit(tmp_path: Path) -> None:
    run = write_tiny_run(tmp_path / "noisy.h5", shape=(128, 128), n_frames=40, noise_seed=1)
    roomy = write_report([run], tmp_path / "roomy.html", max_mb=30)
    assert roomy.kept == ["40 of 40 frames; full spatial resolution (128 × 128)"]
    assert roomy.size_bytes > 6.0e6  # so the next limit must thin the animation
    tight = write_report([run], tmp_path / "tight.html", max_mb=6.0)
    assert tight.size_bytes <= 6.0e6
    kept = tight.kept[0]
    frames = int(re.match(r"(\d+) of 40 frames", kept).group(1))
    if frames < 24:  # fewer than MIN_FRAMES only once space is coarse
        assert "1 voxel in" in kept
    assert frames < 40 or "1 voxel in" in kept, kept
    assert kept in (tmp_path / "tight.html").read_text(encoding="utf-8")
    with pytest.raises(ReportError, match="raise --max-mb"):
        write_report([run], tmp_path / "impossible.html", max_mb=1.0)
    assert not (tmp_path / "impossible.html").exists()


def test_report_never_overwrites_without_force(tmp_path: Path) -> None:
    run = write_tiny_run(tmp_path / "run.h5")
    output = tmp_path / "mine.html"
    output.write_text("my notes")
    runner = CliRunner()
    result = runner.invoke(cli_app, ["report", str(run), "-o", str(output)])
    assert result.exit_code == 2 and "already exists" in result.output
    assert "Traceback" not in result.output
    assert output.read_text() == "my notes"
    result = runner.invoke(cli_app, ["report", str(run), "-o", str(output), "--force"])
    assert result.exit_code == 0, result.output
    assert "kept 4 of 4 frames" in result.output
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mine")] == []
    result = runner.invoke(
        cli_app, ["report", str(run), "-o", str(tmp_path / "x.html"), "--field", "il99"]
    )
    assert result.exit_code == 2 and "unknown field 'il99'" in result.output


def require_chromium() -> None:
    """kaleido needs a Chrome/Chromium: a failure under CI=true, a skip elsewhere."""
    if not any(Path(p).is_file() for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser")):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no Chromium for kaleido (CI=true: run scripts/browser.sh)")
        pytest.skip("no Chromium for kaleido (run scripts/browser.sh)")


def test_a_refused_report_writes_nothing(tmp_path: Path) -> None:
    run = write_tiny_run(tmp_path / "run.h5")
    output = tmp_path / "r.html"
    with pytest.raises(ReportError, match="choose png or svg"):
        write_report([run], output, png_dir=tmp_path / "images", image_format="jpg")
    with pytest.raises(ReportError, match="unknown time series 'bogus'"):
        write_report([run], output, series=["bogus"])
    assert not output.exists() and not (tmp_path / "images").exists()
    size = run.stat().st_size
    with pytest.raises(ReportError, match="is one of the runs"):
        write_report([run], run, force=True)
    assert run.stat().st_size == size


def test_png_export_through_kaleido(tmp_path: Path) -> None:
    require_chromium()
    run = write_tiny_run(tmp_path / "run.h5")
    images = tmp_path / "images"
    summary = write_report([run], tmp_path / "r.html", png_dir=images)
    names = sorted(p.name for p in summary.images)
    assert names == ["run1_il17a.png", "run1_tissue.png", "timeseries.png"]
    for path in summary.images:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError, match="already exists"):
        write_report([run], tmp_path / "r2.html", png_dir=images)


def test_png_export_from_the_command_line_with_log_scale(tmp_path: Path) -> None:
    """kaleido's logging helper parses sys.argv on import; `--log` must not upset it."""
    import subprocess
    import sys

    require_chromium()
    run = write_tiny_run(tmp_path / "run.h5")
    done = subprocess.run(
        [sys.executable, "-m", "mscabm.cli", "report", str(run), "-o", str(tmp_path / "r.html"),
         "--log", "--field", "cxcl8", "--png", str(tmp_path / "svg"), "--format", "svg"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "svg").iterdir()) == [
        "run1_cxcl8.svg", "run1_tissue.svg", "timeseries.svg",
    ]  # fmt: skip
    assert (tmp_path / "svg" / "run1_cxcl8.svg").read_text().lstrip().startswith("<svg")


def test_png_export_without_chromium_says_so(tmp_path: Path, monkeypatch) -> None:
    from plotly.io._kaleido import PLOTLY_GET_CHROME_ERROR_MSG

    def no_browser(*args, **kwargs):
        raise RuntimeError(PLOTLY_GET_CHROME_ERROR_MSG)

    monkeypatch.setattr(pio, "write_images", no_browser)
    run = write_tiny_run(tmp_path / "run.h5")
    result = CliRunner().invoke(
        cli_app,
        ["report", str(run), "-o", str(tmp_path / "r.html"), "--png", str(tmp_path / "png")],
    )
    assert result.exit_code == 2
    assert (
        "needs Chrome or Chromium" in result.output and "apt-get install chromium" in result.output
    )
    assert "Traceback" not in result.output
    assert (tmp_path / "r.html").exists()  # the HTML report was still written
