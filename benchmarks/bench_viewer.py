"""Replay responsiveness: ms per frame change of `mscabm view` on a fixed large fixture.

The fixture is one run file with a 512 × 512 lattice, 16 fields and 20 frames, written with the
io writer (layered tissue, a few thousand mobile cells, NETs, smooth fields with hot spots),
so the figure does not depend on the simulator's speed. The app is served on a free port and
driven by headless Debian chromium through Playwright: each step presses the slider's arrow key
and waits until the frame label, the tissue image and the field image have all changed. Target
(issue #4): <= 300 ms per frame change. Prints a table and JSON; never fails on a time.

    python benchmarks/bench_viewer.py [--frames 20] [--steps 15] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mscabm.io import FieldMeta, RunWriter
from mscabm.viz.app import ViewerServer, make_app
from mscabm.viz.figures import FieldView, field_figure_dict, tissue_figure_dict
from mscabm.viz.reader import open_reader
from mscabm.vocab import LATTICE_CODES, MOBILE_CODES, TISSUE_CODES, CellType

SHAPE = (512, 512)
FIELD_IDS = (
    "il17a", "il22", "tnfa", "ifng", "il36", "il10", "tgfb", "il1b",
    "cxcl8", "ccl20", "ll37", "vegf", "il23", "il12", "ifna", "il6",
)  # fmt: skip
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]  # fmt: skip


def write_fixture(path: Path, n_frames: int) -> None:
    rng = np.random.default_rng(2026)
    nz, nx = SHAPE
    z = np.arange(nz)[:, None]
    x = np.arange(nx)[None, :]
    fields = [FieldMeta(f, "pg/mL", f, f.upper(), 6000.0, 30.0) for f in FIELD_IDS]
    with RunWriter(
        path,
        attrs={"seed": 1, "scenario": "name: bench_viewer\n", "scenario_name": "bench_viewer"},
        dims=("z", "x"),
        shape=SHAPE,
        voxel_um=10.0,
        fields=fields,
        lattice_codes=LATTICE_CODES,
        timeseries_names=["score_total", "count_neutrophil"],
        cell_columns={"cell_id": np.uint64, "type": np.uint8, "voxel": np.int64, "state": np.uint8},
    ) as writer:
        for frame in range(n_frames):
            surface = 300 + 20 * np.sin(x / 40.0 + frame / 3.0)
            tissue = np.full(SHAPE, TISSUE_CODES["air"], dtype=np.uint8)
            tissue[z < surface] = TISSUE_CODES["stratum_corneum"]
            tissue[z < surface - 8] = TISSUE_CODES["granular"]
            tissue[z < surface - 14] = TISSUE_CODES["spinous"]
            tissue[np.broadcast_to(z < 220, SHAPE)] = TISSUE_CODES["basal_stem"]
            tissue[np.broadcast_to(z < 216, SHAPE)] = TISSUE_CODES["dermis"]
            mobile = np.zeros(SHAPE, dtype=np.uint8)
            n_cells = 3000
            cz, cx = rng.integers(0, 300, n_cells), rng.integers(0, nx, n_cells)
            types = rng.choice(
                [MOBILE_CODES[t] for t in ("neutrophil", "th17", "treg", "dc_mature")], n_cells
            )
            mobile[cz, cx] = types
            net = np.zeros(SHAPE, dtype=np.uint8)
            net[rng.integers(200, 300, 60), rng.integers(0, nx, 60)] = 1
            values = {}
            for k, field_id in enumerate(FIELD_IDS):
                centre_x = (nx / 2 + 150 * np.sin(frame / 4.0 + k)) % nx
                blob = np.exp(-((x - centre_x) ** 2 + (z - 250) ** 2) / (2 * (30 + 2 * k) ** 2))
                values[field_id] = (1 + frame) * (5.0 * blob + 0.1 * (z < surface))
            flat = np.ravel_multi_index((cz, cx), SHAPE)
            writer.write_frame(
                0.5 * frame,
                tissue=tissue,
                mobile=mobile,
                net=net,
                sc_height_um=np.full(nx, 10.0),
                fields=values,
                cells={
                    "cell_id": np.arange(n_cells, dtype=np.uint64) + frame * n_cells,
                    "type": np.full(n_cells, CellType.NEUTROPHIL, dtype=np.uint8),
                    "voxel": flat.astype(np.int64),
                    "state": np.zeros(n_cells, dtype=np.uint8),
                },
            )
            writer.append_timeseries(0.5 * frame, {"score_total": frame, "count_neutrophil": 3000})
        writer.set_attr("status", "complete")


def chromium() -> str:
    for candidate in (
        os.environ.get("MSCABM_CHROMIUM"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("no Chromium found: run scripts/browser.sh (apt-get install chromium)")


def measure(url: str, steps: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_function(
            "() => document.querySelector('#field-0 image') && document.querySelector('#tissue-0 image')"
        )
        first_paint_ms = 1000 * (time.perf_counter() - started)
        page.wait_for_timeout(1000)
        state = """() => [document.querySelector('#frame-label').textContent,
                           document.querySelector('#tissue-0 image').getAttribute('href').length + ':' +
                           document.querySelector('#tissue-0 image').getAttribute('href').slice(-40),
                           document.querySelector('#field-0 image').getAttribute('href').slice(-40)]"""
        thumb = page.locator("#frame-slider [role=slider]")
        thumb.focus()
        timings = []
        sizes = []
        for _ in range(steps):
            before = page.evaluate(state)
            page.evaluate("() => { window.__t0 = performance.now(); }")
            thumb.press("ArrowRight")
            page.wait_for_function(
                """(before) => { const s = ("""
                + state
                + """)();
                   return s[0] !== before[0] && s[1] !== before[1] && s[2] !== before[2]; }""",
                arg=before,
                polling="raf",
                timeout=30000,
            )
            timings.append(page.evaluate("() => performance.now() - window.__t0"))
            sizes.append(
                page.evaluate(
                    "() => document.querySelector('#field-0 image').getAttribute('href').length"
                    " + document.querySelector('#tissue-0 image').getAttribute('href').length"
                )
            )
            page.wait_for_timeout(150)
        browser.close()
    return {"first_paint_ms": first_paint_ms, "frame_change_ms": timings, "image_bytes": sizes}


def server_render_cpu_ms(path: Path, n_frames: int) -> list[float]:
    """CPU ms (this thread) to read and render one frame change on the server: tissue + field."""
    reader = open_reader(path)
    view = FieldView("il17a")
    field_figure_dict(reader, view, 0, image_level=1)  # run range computed once (cached)
    timings = []
    for frame in range(1, n_frames):
        started = time.thread_time()
        tissue_figure_dict(reader, frame, image_level=1)
        field_figure_dict(reader, view, frame, image_level=1)
        timings.append(1000 * (time.thread_time() - started))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="write the fixture here and keep it")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = (arguments.keep or Path(scratch)) / "bench_viewer.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            started = time.perf_counter()
            write_fixture(path, arguments.frames)
            print(
                f"fixture: {path} ({path.stat().st_size / 1e6:.0f} MB, "
                f"{time.perf_counter() - started:.1f} s to write)"
            )
        server_cpu_ms = server_render_cpu_ms(path, arguments.frames)
        opened = time.perf_counter()
        server = ViewerServer(make_app([path]), port=0).start()
        open_ms = 1000 * (time.perf_counter() - opened)
        try:
            result = measure(server.url, arguments.steps)
        finally:
            server.stop()
    timings = result["frame_change_ms"]
    print(f"{'lattice':<24}512 x 512, {len(FIELD_IDS)} fields, {arguments.frames} frames, one run")
    print(f"{'open run + build app':<24}{open_ms:8.0f} ms")
    print(
        f"{'server render (CPU)':<24}{statistics.median(server_cpu_ms):8.0f} ms   (read + PNG of tissue and field)"
    )
    print(f"{'first paint':<24}{result['first_paint_ms']:8.0f} ms")
    print(f"{'frame change median':<24}{statistics.median(timings):8.0f} ms   (target <= 300 ms)")
    print(
        f"{'frame change p90 / max':<24}{np.percentile(timings, 90):8.0f} / {max(timings):.0f} ms"
    )
    print(
        f"{'images per frame':<24}{statistics.median(result['image_bytes']) / 1e3:8.0f} kB (base64 PNG, tissue + field)"
    )
    print(
        f"{'load average (1 min)':<24}{os.getloadavg()[0]:8.1f}      (2-core machine; others' jobs inflate the times)"
    )
    print(json.dumps({"open_ms": open_ms, "server_render_cpu_ms": server_cpu_ms, **result}))


if __name__ == "__main__":
    main()
