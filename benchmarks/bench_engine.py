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
(d) the chronic plaque ``psoriasis_human`` on a 2 mm section for 90 simulated days (the immune
    issue's target: under 5 minutes on one core, peak memory under 1 GB): simulated days per
    wall-clock minute, cell-steps/s (keratinocytes + immune cells), peak RSS and the share of
    time per process, overall and per 15-day window (the plaque grows, so the cost does).

Every whole-model case runs in a fresh process, so its peak RSS is its own.
``--parts`` picks the tables (e.g. ``--parts d``).

Targets are printed, never asserted. Timings on a shared machine are noisy: compare ratios
within one run. OMP_NUM_THREADS is set to 1 unless already set.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fields
import mesa_keratinocytes

from mscabm import _kernels
from mscabm.engine import Simulation

MESA_TARGET = 50.0


def host_cpu() -> str:
    """The CPU model and its widest vector extension (timings differ from host to host)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
            if flags and model:
                break
    except OSError:
        pass
    vector = next((f for f in ("avx512f", "avx2", "avx") if f in flags), None)
    return f"{model}, {os.cpu_count()} logical CPUs" + (f", {vector}" if vector else "")


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


def isolated(function, *args):
    """Run ``function(*args)`` in a fresh (spawned) process and return its result."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


PLAQUE_TARGET_MIN = 5.0
PLAQUE_TARGET_MB = 1024.0


def plaque(days: float, width_um: float, window_days: float) -> dict:
    """Time ``psoriasis_human`` day by day: totals and per-window shares (see (d))."""
    sim = Simulation("psoriasis_human", rng=1, days=days,
                     overrides=[f"geometry.width_um={width_um}"])  # fmt: skip
    sim.profile_phases(True)
    windows = []
    window_start = time.perf_counter()
    start = window_start
    cpu_start = window_cpu = time.process_time()
    cell_steps = window_cell_steps = 0
    last_phase = dict(sim.phase_seconds)
    steps_per_window = round(window_days * sim.steps_per_day)
    while sim.steps < sim.total_steps:
        n = sim.state.kc.count() + sim.state.immune.count()
        cell_steps += n
        window_cell_steps += n
        sim.step()
        if sim.steps % steps_per_window == 0 or sim.steps == sim.total_steps:
            now = time.perf_counter()
            spent = {k: v - last_phase.get(k, 0.0) for k, v in sim.phase_seconds.items()}
            total = sum(spent.values()) or 1.0
            windows.append({
                "until_day": sim.time_days,
                "wall_s": now - window_start,
                "cpu_s": time.process_time() - window_cpu,
                "days_per_min": (sim.time_days - (windows[-1]["until_day"] if windows else 0.0))
                / (now - window_start) * 60.0,
                "cell_steps_per_s": window_cell_steps / (now - window_start),
                "immune_cells": sim.state.immune.count(),
                "keratinocytes": sim.state.kc.count(),
                "thickness_ratio": sim.measure()["proxy_thickness_ratio"],
                "share": {k: v / total for k, v in spent.items()},
            })  # fmt: skip
            window_start = time.perf_counter()
            window_cpu = time.process_time()
            window_cell_steps = 0
            last_phase = dict(sim.phase_seconds)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    total = sum(sim.phase_seconds.values())
    return {
        "scenario": "psoriasis_human",
        "field_kernels": _kernels.FIELDS_SIMD,
        "width_um": width_um,
        "lattice": "×".join(str(n) for n in sim.layout.shape),
        "days": days,
        "wall_s": wall,
        "cpu_s": cpu,
        "days_per_min": days / wall * 60.0,
        "cell_steps_per_s": cell_steps / wall,
        "peak_rss_mb": peak_rss_mb(),
        "share": {name: seconds / total for name, seconds in sim.phase_seconds.items()},
        "windows": windows,
    }


def print_plaque(row: dict) -> None:
    """Print table (d)."""
    print(f"{'until day':>9} {'wall s':>7} {'CPU s':>7} {'days/min':>8} {'cell-steps/s':>13} "
          f"{'immune':>7} {'KCs':>6} {'thick×':>6}  share")  # fmt: skip
    for w in row["windows"]:
        share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(w["share"].items(), key=lambda kv: -kv[1])
                          if v >= 0.01)  # fmt: skip
        print(f"{w['until_day']:9.1f} {w['wall_s']:7.1f} {w['cpu_s']:7.1f} {w['days_per_min']:8.2f} "
              f"{w['cell_steps_per_s']:13.3g} {w['immune_cells']:7d} {w['keratinocytes']:6d} "
              f"{w['thickness_ratio']:6.2f}  {share}")  # fmt: skip
    minutes = row["wall_s"] / 60.0
    scaled = minutes * 90.0 / row["days"]
    share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(row["share"].items(), key=lambda kv: -kv[1])
                      if v >= 0.01)  # fmt: skip
    print(f"total: {row['days']:.0f} days on {row['lattice']} in {minutes:.2f} min "
          f"(CPU {row['cpu_s'] / 60.0:.2f} min of one core; field kernels: "
          f"{row.get('field_kernels', '?')}; "
          f"{row['days_per_min']:.1f} days/min, {row['cell_steps_per_s']:.3g} cell-steps/s), "
          f"peak RSS {row['peak_rss_mb']:.0f} MB; share {share}")  # fmt: skip
    verdict = ("met" if scaled < PLAQUE_TARGET_MIN and row["peak_rss_mb"] < PLAQUE_TARGET_MB
               else "NOT met")  # fmt: skip
    note = "" if row["days"] >= 90 else f" (scaled from {row['days']:.0f} days)"
    print(f"target: 90 days < {PLAQUE_TARGET_MIN:.0f} min and < {PLAQUE_TARGET_MB:.0f} MB: "
          f"{scaled:.2f} min{note}, {row['peak_rss_mb']:.0f} MB -> {verdict}")  # fmt: skip


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
    parser.add_argument("--parts", default="a,b,c,d", help="tables to run (default a,b,c,d)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    results: dict = {"omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "host": host_cpu()}
    print(f"host: {results['host']}; OMP_NUM_THREADS={results['omp_num_threads']}")

    if "a" in parts:
        print("(a) field solver, one 6-minute step, one thread")
        results["fields"] = bench_fields.run_benchmark(quick=args.quick)
        bench_fields.print_table(results["fields"])

    if "b" in parts:
        print("\n(b) whole model (each case in a fresh process)")
        days = 1.0 if args.quick else 5.0
        cases = [(name, days, 300.0 if args.quick else None)
                 for name in ("healthy_human", "psoriatic_drive_human")]  # fmt: skip
        # the immune scenarios: the first days of the induction, and the plaque (table (d) runs
        # it for 90 days)
        cases.append(("imq_mouse", 1.0 if args.quick else 6.0, 300.0 if args.quick else None))
        cases.append(("psoriasis_human", 1.0 if args.quick else 10.0, 300.0 if args.quick else None))
        rows = [isolated(whole_model, *case) for case in cases]
        header = (f"{'scenario':24} {'lattice':>8} {'steps/s':>8} {'days/min':>8} "
                  f"{'cell-steps/s':>13} {'RSS MB':>7}  share")  # fmt: skip
        print(header)
        for row in rows:
            share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(row["share"].items(), key=lambda kv: -kv[1]))
            print(f"{row['scenario']:24} {row['lattice']:>8} {row['steps_per_s']:8.1f} "
                  f"{row['days_per_min']:8.2f} "
                  f"{row['cell_steps_per_s']:13.3g} {row['peak_rss_mb']:7.0f}  {share}")  # fmt: skip
        results["model"] = rows

    if "d" in parts:
        plaque_days = 2.0 if args.quick else 90.0
        plaque_width = 300.0 if args.quick else 2000.0
        print(f"\n(d) psoriasis_human, {plaque_width / 1000:g} mm section, {plaque_days:g} days, "
              "one core (fresh process)")  # fmt: skip
        results["plaque"] = isolated(plaque, plaque_days, plaque_width, 1.0 if args.quick else 15.0)
        print_plaque(results["plaque"])

    if "c" not in parts:
        args.json.write_text(json.dumps(results, indent=2, default=float))
        print(f"\nwrote {args.json}")
        return 0
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
