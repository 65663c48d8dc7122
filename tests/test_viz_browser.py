"""The replay app and the HTML report in a real browser: headless Debian chromium through
Playwright for Python (never a browser downloaded by Playwright; scripts/browser.sh installs
chromium). Under CI=true a missing browser or Playwright fails these tests; elsewhere they skip
with the reason.

The runs are made by the simulator itself (imq_mouse and its neutrophil depletion on a 300 µm
section for one day, a small 3-D block of healthy_human_3d). Screenshots go to
``test-artifacts/viz/`` (override with MSCABM_TEST_ARTIFACTS); with MSCABM_DOCS_IMAGES=docs/images
the same screenshots are also written there for docs/viewer.md.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from viz_helpers import viz_dependencies_or_skip

viz_dependencies_or_skip()


import mscabm  # noqa: E402
from mscabm.viz.app import ViewerServer, make_app  # noqa: E402
from mscabm.viz.report import write_report  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = Path(os.environ.get("MSCABM_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "viz"
DOCS_IMAGES = os.environ.get("MSCABM_DOCS_IMAGES")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
pytestmark = pytest.mark.slow


def missing(reason: str) -> None:
    """A dependency is missing: a failure under CI=true, a skip elsewhere."""
    if CI:
        pytest.fail(f"{reason} (CI=true: browser tests may not be skipped)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("MSCABM_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing(f"Playwright for Python is not installed ({exc}); pip install -e '.[test]'")
    executable = chromium_path()
    if executable is None:
        missing("no Chromium found (run scripts/browser.sh, or apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    small = ["geometry.width_um=300", "time.frame_interval_days=0.2"]
    return {
        "imq": mscabm.run("imq_mouse", output=folder / "imq.h5", seed=3, days=1.0, overrides=small),
        "depleted": mscabm.run(
            "imq_mouse_neutrophil_depletion",
            output=folder / "depleted.h5",
            seed=3,
            days=1.0,
            overrides=small,
        ),
        "block": mscabm.run(
            "healthy_human_3d",
            output=folder / "block.h5",
            seed=3,
            days=0.5,
            overrides=[
                "geometry.width_um=120",
                "geometry.depth_um=80",
                "time.frame_interval_days=0.25",
            ],
        ),
    }


class Page:
    """A browser page that records console errors and failed requests."""

    def __init__(self, browser, *, offline: bool = False) -> None:
        self.context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, offline=offline
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.text_content() or ""

    def wait_text(self, selector: str, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text(selector) if self.page.locator(selector).count() else ""
            if re.search(pattern, text):
                return text
            self.page.wait_for_timeout(50)
        raise AssertionError(f"{selector}: {text!r} never matched {pattern!r}")

    def image_href(self, graph_id: str) -> str:
        return self.page.locator(f"#{graph_id} image").first.get_attribute("href") or ""

    def wait_image_change(self, graph_id: str, old: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            href = self.image_href(graph_id)
            if href and href != old:
                return href
            self.page.wait_for_timeout(50)
        raise AssertionError(f"the image of #{graph_id} did not change")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=path, full_page=True)
        if DOCS_IMAGES:
            target = REPO_ROOT / DOCS_IMAGES
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / name)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def serve():
    servers: list[ViewerServer] = []

    def start(paths: list[Path]) -> str:
        server = ViewerServer(make_app(paths), port=0).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def press_slider(page: Page, key: str, times: int = 1) -> None:
    thumb = page.page.locator("#frame-slider [role=slider]")
    thumb.focus()
    for _ in range(times):
        thumb.press(key)


def test_single_run_slider_field_hover_play_and_click(browser, runs, serve) -> None:
    url = serve([runs["imq"]])
    page = Page(browser)
    try:
        page.page.goto(url)
        page.wait_text("#frame-label", r"frame 0 / 5 · day 0\.00")
        page.wait_text("#run-frame-0", r"frame 0 / 5 · day 0\.00")
        page.page.wait_for_selector("#field-0 image")
        page.page.wait_for_selector("#tissue-0 image")
        field_before = page.image_href("field-0")
        assert field_before.startswith("data:image/png;base64,")
        assert "IL-17A" in page.text("#field-0 .gtitle")
        legend = page.page.locator("#tissue-0 .legendtext").all_text_contents()
        assert "dermis" in legend and "spinous" in legend

        # move the slider: the frame/day labels and the heatmap change
        press_slider(page, "ArrowRight", 3)
        page.wait_text("#frame-label", r"frame 3 / 5 · day 0\.60")
        page.wait_text("#run-frame-0", r"day 0\.60")
        field_at_3 = page.wait_image_change("field-0", field_before)
        page.wait_text("#field-0 .gtitle", r"day 0\.60")

        # switch the field, then the scale
        page.page.click("#field-select")
        page.page.locator("[role=option]", has_text="CXCL8 (pg/mL)").click()
        page.wait_text("#field-0 .gtitle", r"CXCL8 \(pg/mL, linear")
        page.wait_text("#timeseries .infolayer", r"mean cxcl8 epidermis")
        titles = page.page.locator("#timeseries .annotation-text").all_text_contents()
        assert "mean il17a epidermis" not in titles
        field_cxcl8 = page.wait_image_change("field-0", field_at_3)
        page.page.get_by_label("log", exact=True).check()
        page.wait_text("#field-0 .gtitle", r"CXCL8 \(pg/mL, log")
        page.wait_image_change("field-0", field_cxcl8)
        page.wait_text("#field-0 .cbtitle", r"pg/mL \(log\)")

        # hover: the server tells what the voxel holds
        box = page.page.locator("#tissue-0 .nsewdrag").first.bounding_box()
        page.page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.85 * box["height"])
        hover = page.wait_text("#hover-info", r"tissue: ")
        assert "fields: " in hover and "pg/mL" in hover and "run 1 · voxel" in hover

        # play a few frames, then pause
        page.page.click("#play-button")
        page.wait_text("#play-button", "pause")
        seen = set()
        deadline = time.monotonic() + 20
        while len(seen) < 3 and time.monotonic() < deadline:
            seen.add(page.text("#frame-label"))
            page.page.wait_for_timeout(100)
        page.page.click("#play-button")
        page.wait_text("#play-button", "play")
        assert len(seen) >= 3, seen

        # click on the time series: the slider jumps to that day
        press_slider(page, "Home")
        page.wait_text("#frame-label", r"frame 0 /")
        page.page.wait_for_timeout(300)
        cursor_at_start = page.page.locator("#timeseries .shapelayer path").first.get_attribute("d")
        page.page.locator("#timeseries .nsewdrag").first.scroll_into_view_if_needed()
        plot = page.page.locator("#timeseries .nsewdrag").first.bounding_box()
        at = (plot["x"] + plot["width"] - 3, plot["y"] + 0.5 * plot["height"])
        page.page.mouse.move(*at)  # Plotly picks the clicked point on hover
        page.page.wait_for_timeout(300)
        page.page.mouse.click(*at)
        page.wait_text("#frame-label", r"frame 5 / 5 · day 1\.00")
        deadline = time.monotonic() + 10
        cursor = page.page.locator("#timeseries .shapelayer path").first
        while cursor.get_attribute("d") == cursor_at_start and time.monotonic() < deadline:
            page.page.wait_for_timeout(50)
        assert cursor.get_attribute("d") != cursor_at_start  # the time cursor moved
        page.page.wait_for_timeout(300)
        page.screenshot("app_single_run.png")
        assert page.errors == []
    finally:
        page.close()


def test_two_runs_side_by_side_in_sync(browser, runs, serve) -> None:
    url = serve([runs["imq"], runs["depleted"]])
    page = Page(browser)
    try:
        page.page.goto(url)
        page.wait_text("#run-frame-1", r"frame 0 / 5")
        page.wait_text("#timeseries .infolayer", r"Δ score total \(run − run 1\)")
        differences = page.page.locator("#timeseries .scatterlayer .trace").count()
        assert differences >= 2 * 2  # runs and a difference per panel
        before = [page.image_href("tissue-0"), page.image_href("tissue-1")]
        press_slider(page, "End")
        page.wait_text("#run-frame-0", r"day 1\.00")
        page.wait_text("#run-frame-1", r"day 1\.00")
        assert page.wait_image_change("tissue-0", before[0]) != page.image_href("tissue-1")
        assert "neutrophil depletion" in page.text("#run-label-1").replace("_", " ")
        page.page.wait_for_timeout(300)
        page.screenshot("app_two_runs.png")
        assert page.errors == []
    finally:
        page.close()


def test_3d_slice_selector(browser, runs, serve) -> None:
    url = serve([runs["block"]])
    page = Page(browser)
    try:
        page.page.goto(url)
        page.page.wait_for_selector("#slice-controls", state="visible")
        page.wait_text("#run-frame-0", r"slice y=4")
        vertical = page.image_href("tissue-0")
        assert page.text("#tissue-0 .xtitle") == "x (µm)"
        page.page.get_by_label("z (horizontal plane)").check()
        page.wait_text("#run-frame-0", r"slice z=")
        page.wait_image_change("tissue-0", vertical)
        page.wait_text("#tissue-0 .ytitle", r"^y \(µm\)$")
        page.page.get_by_label("x (z–y section)").check()
        page.wait_text("#run-frame-0", r"slice x=")
        page.wait_text("#tissue-0 .xtitle", r"^y \(µm\)$")
        box = page.page.locator("#tissue-0 .nsewdrag").first.bounding_box()
        page.page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.9 * box["height"])
        hover = page.wait_text("#hover-info", r"voxel \(\d+, \d+, \d+\)")
        assert re.search(r"voxel \(\d+, \d+, 4\)", hover), hover  # x held at the slice index
        page.page.wait_for_timeout(300)
        page.screenshot("app_3d_slice.png")
        assert page.errors == []
    finally:
        page.close()


def test_report_opens_offline_from_disk(browser, runs, tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    summary = write_report([runs["imq"], runs["depleted"]], output)
    assert summary.size_bytes <= summary.max_bytes
    page = Page(browser, offline=True)
    requested: list[str] = []

    def only_local(route) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            route.abort()

    page.context.route("**/*", only_local)
    try:
        page.page.goto(output.as_uri())
        page.page.wait_for_selector("#animation-0 .main-svg")
        page.page.wait_for_selector("#timeseries .main-svg")
        page.wait_text("#animation-0 .gtitle", r"frame 0 / 5 · day 0\.00")
        first = page.image_href("animation-0")
        page.page.locator("#animation-0 .updatemenu-button", has_text="play").click()
        page.wait_text("#animation-0 .gtitle", r"frame [1-5] / 5", timeout=20)
        page.wait_image_change("animation-0", first)
        kept = page.text(".kept")
        assert "6 of 6 frames" in kept
        assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
        page.page.wait_for_timeout(1500)
        page.screenshot("report.png")
        assert page.errors == []
    finally:
        page.close()
