"""Engine benchmark: field solver, whole model, and the Mesa baseline, in one run.

    python benchmarks/bench_engine.py [--quick] [--json bench_engine.json]

Prints three tables and writes them as JSON:

(a) the field solver on one thread (``bench_fields.run_benchmark``): one 6-minute step at
    512×512 × 16 and × 1 field, uniform and layered skin, beside a vectorised NumPy
    implementation of the same discretisation and PhysiCell/BioFVM reference figures;
(b) the whole model: steps/s, keratinocyte cell-steps/s, peak memory (RSS) and the share of
    time per process for the healthy and psoriatic-drive scenarios;
(c) the same keratinocyte rules as a plain Mesa 3 model (``mesa_keratinocytes.py``: cell-space
    API, one agent per cell, PropertyLayers for the fields) against the engine on the same
    section and days, with the ratio. Target: engine ≥ 50× Mesa.

Targets are printed, never asserted. Timings on a shared machine are noisy: compare ratios
within one run. OMP_NUM_THREADS is set to 1 unless already set.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fields
import mesa_keratinocytes

from mscabm.engine import Simulation

MESA_TARGET = 50.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def whole_model(scenario: str, days: float, width_um: float | None) -> dict:
    """Time the full step loop of one scenario from its shipped state."""
    overrides = [f"geometry.width_um={width_um}"] if width_um else []
    sim = Simulation(scenario, rng=1, days=days, overrides=overrides)
    sim.profile_phases(True)
    cell_steps = 0
    start = time.perf_counter()
    while sim.steps < sim.total_steps:
        cell_steps += sim.state.kc.count() + sim.state.immune.count()
        sim.step()
    wall = time.perf_counter() - start
    total = sum(sim.phase_seconds.values())
    return {
        "scenario": scenario,
        "lattice": "×".join(str(n) for n in sim.layout.shape),
        "fields": len(sim.field_ids),
        "days": days,
        "steps": sim.steps,
        "wall_s": wall,
        "steps_per_s": sim.steps / wall,
        "days_per_min": days / wall * 60.0,
        "cell_steps_per_s": cell_steps / wall,
        "voxel_field_steps_per_s": sim.steps * sim.layout.n_voxels * len(sim.field_ids) / wall,
        "peak_rss_mb": peak_rss_mb(),
        "share": {name: seconds / total for name, seconds in sim.phase_seconds.items()},
    }


def engine_vs_mesa(scenario: str, width_um: float, days: float) -> dict:
    """The same keratinocyte work in the engine and in the plain Mesa model (same tissue, seed)."""
    mesa_result = mesa_keratinocytes.run_mesa_baseline(scenario, width_um=width_um, days=days, seed=1)
    engine = mesa_keratinocytes.run_engine(scenario, width_um=width_um, days=days, seed=1)
    return {
        "scenario": scenario,
        "width_um": width_um,
        "days": days,
        "engine_wall_s": engine["wall_s"],
        "mesa_wall_s": mesa_result["wall_s"],
        "ratio": mesa_result["wall_s"] / engine["wall_s"],
        "engine_fields_s": engine["fields_s"],
        "mesa_fields_s": mesa_result["fields_s"],
        # cells only: each model's step loop without its field part (secretion + solve)
        "ratio_cells_only": (mesa_result["wall_s"] - mesa_result["fields_s"])
        / (engine["wall_s"] - engine["fields_s"]),
        # the whole-model ratio if everything but the engine's field solve cost nothing
        "ratio_ceiling_from_engine_fields": mesa_result["wall_s"] / engine["fields_s"],
        "engine_cell_steps_per_s": engine["cell_steps"] / engine["wall_s"],
        "mesa_cell_steps_per_s": mesa_result["cell_steps"] / mesa_result["wall_s"],
        "engine_viable_thickness_um": engine["viable_thickness_um"],
        "mesa_viable_thickness_um": mesa_result["viable_thickness_um"],
        "engine_divisions_per_day": engine["divisions_per_day"],
        "mesa_divisions_per_day": mesa_result["divisions_per_day"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--json", type=Path, default=Path("bench_engine.json"))
    args = parser.parse_args()
    results: dict = {"omp_num_threads": os.environ.get("OMP_NUM_THREADS")}

    print("(a) field solver, one 6-minute step, one thread")
    results["fields"] = bench_fields.run_benchmark(quick=args.quick)
    bench_fields.print_table(results["fields"])

    print("\n(b) whole model")
    days = 1.0 if args.quick else 5.0
    rows = [whole_model(name, days, 300.0 if args.quick else None)
            for name in ("healthy_human", "psoriatic_drive_human")]  # fmt: skip
    # the immune scenarios: the first days of the induction, and the 2 mm plaque section of the
    # immune issue's target (90 simulated days in < 5 minutes on one core; extrapolated here
    # from the days run)
    rows.append(whole_model("imq_mouse", 1.0 if args.quick else 6.0, 300.0 if args.quick else None))
    rows.append(whole_model("psoriasis_human", 1.0 if args.quick else 10.0,
                            300.0 if args.quick else 2000.0))  # fmt: skip
    header = (f"{'scenario':24} {'lattice':>8} {'steps/s':>8} {'days/min':>8} {'cell-steps/s':>13} "
              f"{'RSS MB':>7}  share")  # fmt: skip
    print(header)
    for row in rows:
        share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(row["share"].items(), key=lambda kv: -kv[1]))
        print(f"{row['scenario']:24} {row['lattice']:>8} {row['steps_per_s']:8.1f} "
              f"{row['days_per_min']:8.2f} "
              f"{row['cell_steps_per_s']:13.3g} {row['peak_rss_mb']:7.0f}  {share}")  # fmt: skip
    results["model"] = rows

    print("\n(c) engine vs a plain Mesa 3 model of the same keratinocyte rules")
    sizes = [(200.0, 0.5)] if args.quick else [(1000.0, 1.0), (5000.0, 0.25)]
    comparisons = [engine_vs_mesa(name, width, days) for width, days in sizes
                   for name in ("healthy_human", "psoriatic_drive_human")]  # fmt: skip
    print(f"{'scenario':24} {'width':>6} {'days':>5} {'engine s':>9} {'Mesa s':>8} {'ratio':>7}  "
          f"thickness engine/Mesa  divisions/day engine/Mesa")  # fmt: skip
    for row in comparisons:
        verdict = "met" if row["ratio"] >= MESA_TARGET else "NOT met"
        print(f"{row['scenario']:24} {row['width_um']:6.0f} {row['days']:5.1f} {row['engine_wall_s']:9.2f} "
              f"{row['mesa_wall_s']:8.2f} {row['ratio']:6.0f}×  "
              f"{row['engine_viable_thickness_um']:.1f}/{row['mesa_viable_thickness_um']:.1f} µm   "
              f"{row['engine_divisions_per_day']:.1f}/{row['mesa_divisions_per_day']:.1f}"
              f"   (target ≥ {MESA_TARGET:.0f}×: {verdict})")  # fmt: skip
    print(f"\n{'scenario':24} {'width':>6} {'fields s engine/Mesa':>21} {'cells-only ratio':>17} "
          f"{'ceiling':>8}  (ceiling: Mesa time / engine field time)")  # fmt: skip
    for row in comparisons:
        print(f"{row['scenario']:24} {row['width_um']:6.0f} "
              f"{row['engine_fields_s']:10.2f}/{row['mesa_fields_s']:<10.2f} "
              f"{row['ratio_cells_only']:16.1f}× {row['ratio_ceiling_from_engine_fields']:7.1f}×")  # fmt: skip
    results["mesa"] = comparisons
    args.json.write_text(json.dumps(results, indent=2, default=float))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
