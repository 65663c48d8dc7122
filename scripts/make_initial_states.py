"""Generate the shipped equilibrated healthy tissue states (human and mouse).

    python scripts/make_initial_states.py [--human-days 180] [--mouse-days 60] [--only human]

Each state starts from a freshly built tissue (``initial_state: null``), runs the healthy
scenario until its kinetics are stationary, and is written to
``mscabm/data/initial_states/healthy_<species>.h5`` together with the profile's healthy
baseline (mean viable and corneum thickness, perfusion) used by the scores. The script prints
the readouts over the last 30 days and checks stationarity (viable thickness within ±10 % of its
mean) and, for the human profile, calibration target 1; it exits 1 if a check fails.
``mscabm validate-biology`` is the authority on the targets.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from mscabm import io as run_io
from mscabm.engine import Simulation

SEED = 20260101
OUT = Path(__file__).resolve().parent.parent / "mscabm" / "data" / "initial_states"


def make(species: str, days: float) -> bool:
    name = f"healthy_{species}"
    sim = Simulation(name, rng=SEED, days=days, overrides=["initial_state=null", "events=[]"])
    samples = []
    last_report = 0
    while sim.steps < sim.total_steps:
        sim.step()
        if sim.steps % sim.steps_per_day == 0:
            values = sim.measure()
            samples.append((sim.time_days, values))
            if sim.time_days - last_report >= 10:
                last_report = sim.time_days
                v = values
                print(
                    f"{name} day {sim.time_days:5.0f}: "
                    f"viable {v['viable_epidermis_thickness_um']:.1f} µm, "
                    f"corneum {v['stratum_corneum_thickness_um']:.1f} µm, "
                    f"cycle {v['cycle_time_measured_h']:.0f} h, "
                    f"growth fraction {v['growth_fraction_measured']:.2f}, "
                    f"production {v['production_per_day_per_mm2']:.0f}/day/mm², "
                    f"transit {v['transit_time_days']:.1f} d",
                    flush=True,
                )
    last = [v for day, v in samples if day > days - 30]
    thickness = np.array([v["viable_epidermis_thickness_um"] for v in last])
    deviation = float(np.max(np.abs(thickness / thickness.mean() - 1)))
    ok = deviation <= 0.10
    print(
        f"{name}: viable thickness over the last 30 days {thickness.mean():.1f} µm, "
        f"max deviation {deviation:.3f}"
    )
    if species == "human":
        mean = {k: float(np.nanmean([v[k] for v in last])) for k in last[0]}
        checks = {
            "cycle_time_measured_h": (200, 460),
            "growth_fraction_measured": (0.5, 0.7),
            "production_per_day_per_mm2": (1000, 1500),
        }
        for key, (low, high) in checks.items():
            good = low <= mean[key] <= high
            ok &= good
            print(
                f"  {key}: {mean[key]:.3f} (target {low}-{high}) {'ok' if good else 'OUT OF RANGE'}"
            )
    arrays, meta = sim.checkpoint()
    # a state is the tissue only: fields re-equilibrate at the start of a run, event logs restart
    arrays = {k: v for k, v in arrays.items() if k.startswith(("kc/", "sc/"))}
    for prefix in ("kc", "sc"):  # keep living rows only
        alive = arrays[f"{prefix}/alive"]
        for key in [k for k in arrays if k.startswith(prefix + "/") and arrays[k].ndim == 1]:
            arrays[key] = arrays[key][alive]
    # the healthy baseline is the long-run mean, not the last snapshot
    meta["baseline"] = {
        "viable_epidermis_thickness_um": float(thickness.mean()),
        "stratum_corneum_thickness_um": float(
            np.mean([v["stratum_corneum_thickness_um"] for v in last])
        ),
        "perfusion": float(np.mean([v["perfusion"] for v in last])),
    }
    meta["made_by"] = "scripts/make_initial_states.py"
    meta["equilibration_days"] = days
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        written = run_io.save_checkpoint(Path(tmp) / "state.h5", sim.steps, arrays, meta)
        shutil.copyfile(written, OUT / f"{name}.h5")
    print(f"wrote {OUT / (name + '.h5')} (baseline {meta['baseline']})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--human-days", type=float, default=180.0)
    parser.add_argument("--mouse-days", type=float, default=60.0)
    parser.add_argument("--only", choices=("human", "mouse"))
    args = parser.parse_args()
    ok = True
    if args.only in (None, "human"):
        ok &= make("human", args.human_days)
    if args.only in (None, "mouse"):
        ok &= make("mouse", args.mouse_days)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
