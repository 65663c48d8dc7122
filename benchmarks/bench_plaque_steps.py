"""Per-step cost at a formed plaque: time N steps of ``psoriasis_human`` from a checkpoint.

    python benchmarks/bench_plaque_steps.py [--days 20] [--width-um 2000] [--steps 200]
                                            [--repeats 3] [--profile]

The 90-day table (``bench_engine.py --parts d``) takes a quarter of an hour; decisions about
per-step costs need something quicker. The first run simulates ``--days`` days of
``psoriasis_human`` on a section ``--width-um`` wide (about 3 minutes for 20 days at 2 mm) and
saves a checkpoint in ``--cache`` (keyed by the resolved scenario, the seed and the day, so
a change of defaults makes a new one); later runs restore it and time ``--steps`` steps,
``--repeats`` times, each from the same restored state, printing ms per step (wall and CPU)
and per phase (``Simulation.profile_phases``), and the median. ``--profile`` adds a cProfile
listing of the last repeat.

Timings on a shared machine are noisy: compare two versions back to back in one session
(e.g. run this script from both working copies alternately), several repeats, medians.
Targets are printed, never asserted. OMP_NUM_THREADS is set to 1 unless already set.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from ruamel.yaml import YAML

from mscabm import io as mscabm_io
from mscabm.engine import Simulation
from mscabm.scenario import reload_scenario

SCENARIO = "psoriasis_human"
SEED = 1
TARGET_MS_PER_STEP = 300_000.0 / 21_600  # 90 days of 6-minute steps in 5 minutes


def plaque_checkpoint(days: float, width_um: float, cache: Path) -> Path:
    """The checkpoint of the plaque after ``days`` days (simulated on the first call)."""
    sim = Simulation(SCENARIO, rng=SEED, days=90, overrides=[f"geometry.width_um={width_um}"])
    key = hashlib.sha256(f"{sim.spec.to_yaml()}|{SEED}|{days}".encode()).hexdigest()[:16]
    run_path = cache / f"plaque_{key}.h5"
    found = mscabm_io.list_checkpoints(run_path)
    if found:
        return found[-1][1]
    print(f"simulating {days:g} days of {SCENARIO} at {width_um:g} µm for the checkpoint ...")
    start = time.perf_counter()
    steps = round(days * sim.steps_per_day)
    while sim.steps < steps:
        sim.step()
    print(f"  {time.perf_counter() - start:.0f} s")
    arrays, meta = sim.checkpoint()
    return mscabm_io.save_checkpoint(run_path, sim.steps, arrays, meta)


def restored(checkpoint: Path) -> Simulation:
    """A simulation restored from ``checkpoint``."""
    arrays, meta = mscabm_io.load_checkpoint(checkpoint)
    spec = reload_scenario(YAML(typ="safe", pure=True).load(meta["scenario"]))
    sim = Simulation(spec, rng=int(meta["seed"]))
    sim.restore(arrays, meta)
    return sim


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=20.0, help="plaque age (default 20)")
    parser.add_argument("--width-um", type=float, default=2000.0, help="section width")
    parser.add_argument("--steps", type=int, default=200, help="steps timed per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the last repeat")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "mscabm_bench_plaque"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    checkpoint = plaque_checkpoint(args.days, args.width_um, args.cache)
    walls = []
    for repeat in range(args.repeats):
        sim = restored(checkpoint)
        sim.profile_phases(True)
        profiler = cProfile.Profile() if args.profile and repeat == args.repeats - 1 else None
        if profiler:
            profiler.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            sim.step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profiler:
            profiler.disable()
        walls.append(wall / args.steps * 1e3)
        phases = " ".join(
            f"{name} {seconds / args.steps * 1e3:.2f}"
            for name, seconds in sim.phase_seconds.items()
        )
        print(
            f"repeat {repeat}: {walls[-1]:.2f} ms/step wall, {cpu / args.steps * 1e3:.2f} CPU "
            f"({sim.state.kc.count()} keratinocytes, {sim.state.immune.count()} immune cells); "
            f"ms/step by phase: {phases}"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
    median = float(np.median(walls))
    print(
        f"median {median:.2f} ms/step (day {args.days:g} plaque, {args.width_um:g} µm); the "
        f"90-day target of 5 minutes needs ≤ {TARGET_MS_PER_STEP:.1f} ms/step on average"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
