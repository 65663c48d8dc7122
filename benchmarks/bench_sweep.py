"""Sweep executor benchmark: scheduling overhead per row and throughput with 1 and 2 workers.

    python benchmarks/bench_sweep.py [--rows 12] [--days 2] [--width-um 200] [--repeats 2]

Each row is a small healthy_mouse run of about 3 seconds (OMP_NUM_THREADS=1 in every worker). A
LocalCluster is started before the clock starts (its start-up is printed separately), then
``run_sweep`` runs the rows through it: resolving and hashing the rows, submitting them, saving
each result as a part file, consolidating the table. The 1-worker and 2-worker sweeps alternate
``--repeats`` times (the machine is shared: a burst of other load then hits both, not one) and
the table's last line is the median of the repeats.

* overhead per row = (sweep wall time with 1 worker − Σ the rows' own wall times) / rows: the
  time a row costs beyond its simulation (Dask scheduling and transfer, part files, the table,
  resolving scenarios), printed as a share of a 10-second run (target < 2 %).
* throughput = rows per minute with 1 and 2 workers, and the speed-up (target ≥ 1.7× on two
  cores; the machine is shared, so other engineers' load shows up here). "rows in flight" =
  Σ row wall times / sweep wall time: how many rows the executor kept running on average
  (2 workers: close to 2 unless scheduling starves them); when it is near 2 but the speed-up
  is not, the rows themselves ran slower (each had less than a core).

Prints a table and one JSON line; never fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

SWEEP = """\
name: bench
scenario: healthy_mouse
days: {days}
overrides: {{geometry.width_um: {width}, time.frame_interval_days: {days}}}
parameters:
  fields.tgfb.half_life_min: {{low: 20, high: 40, num: {rows}}}
replicates: {{count: 1, root_entropy: 1}}
metrics:
  thickness: {{series: viable_epidermis_thickness_um}}
keep_runs: false
"""


def measure(spec, workers: int, folder: Path) -> dict:
    from distributed import LocalCluster

    from mscabm.sweep.executors import run_sweep

    t0 = time.perf_counter()
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        env={"OMP_NUM_THREADS": "1"},
    ) as cluster:
        started = time.perf_counter() - t0
        # one warm-up row per worker (imports, compiled modules) outside the clock
        run_sweep(spec, folder / f"warm{workers}", scheduler=cluster.scheduler_address,
                  rows=spec.rows()[:workers])
        t1 = time.perf_counter()
        summary = run_sweep(spec, folder / f"w{workers}", scheduler=cluster.scheduler_address)
        wall = time.perf_counter() - t1
    table = summary.table
    assert (table["status"] == "done").all(), table["error"].tolist()
    return {
        "workers": workers,
        "rows": len(table),
        "cluster_start_s": started,
        "wall_s": wall,
        "row_wall_sum_s": float(table["wall_time_s"].sum()),
        "row_wall_mean_s": float(table["wall_time_s"].mean()),
        "rows_per_min": 60.0 * len(table) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--width-um", type=float, default=200.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from mscabm.sweep import load_sweep

    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        folder = Path(tmp)
        path = folder / "bench.yaml"
        path.write_text(SWEEP.format(days=args.days, width=args.width_um, rows=args.rows))
        spec = load_sweep(path)
        t = time.perf_counter()
        spec.rows()
        resolve_s = (time.perf_counter() - t) / args.rows
        pairs = []
        for repeat in range(args.repeats):
            pairs.append((measure(spec, 1, folder / f"r{repeat}"),
                          measure(spec, 2, folder / f"r{repeat}")))

    print(f"load average before/after (other engineers share the {os.cpu_count()} cores): "
          f"{load_before:.1f} / {os.getloadavg()[0]:.1f}")
    print(f"rows: {args.rows} × healthy_mouse {args.width_um:g} µm, {args.days:g} days")
    print(f"{'repeat':>6} {'workers':>8} {'cluster start s':>16} {'wall s':>8} {'Σ row s':>8} "
          f"{'mean row s':>11} {'rows in flight':>15} {'rows/min':>9} {'overhead ms/row':>16}")
    overheads, speedups, slowdowns, in_flight = [], [], [], []
    for repeat, (one, two) in enumerate(pairs):
        for r in (one, two):
            r["in_flight"] = r["row_wall_sum_s"] / r["wall_s"]
            r["overhead_per_row_s"] = (r["wall_s"] - r["row_wall_sum_s"]) / r["rows"]
            overhead = (f"{1000 * r['overhead_per_row_s']:>16.0f}" if r["workers"] == 1
                        else f"{'':>16}")
            print(f"{repeat:>6} {r['workers']:>8} {r['cluster_start_s']:>16.2f} {r['wall_s']:>8.2f} "
                  f"{r['row_wall_sum_s']:>8.2f} {r['row_wall_mean_s']:>11.2f} "
                  f"{r['in_flight']:>15.2f} {r['rows_per_min']:>9.1f} {overhead}")
        overheads.append(one["overhead_per_row_s"])
        speedups.append(one["wall_s"] / two["wall_s"])
        slowdowns.append(two["row_wall_mean_s"] / one["row_wall_mean_s"])
        in_flight.append(two["in_flight"])
    overhead = float(np.median(overheads))
    speedup = float(np.median(speedups))
    print(f"scheduling overhead per row (1 worker, median of {args.repeats}): "
          f"{1000 * overhead:.0f} ms (of which resolving the row's scenario "
          f"{1000 * resolve_s:.0f} ms) = {100 * overhead / 10.0:.2f} % of a 10-second run "
          "(target < 2 %)")
    print(f"throughput 2 workers / 1 worker: {', '.join(f'{x:.2f}×' for x in speedups)}; "
          f"median {speedup:.2f}× (target ≥ 1.7×); with 2 workers the executor kept "
          f"{float(np.median(in_flight)):.2f} rows running on average and each row took "
          f"{float(np.median(slowdowns)):.2f}× as long as with 1 worker (CPU shared with the "
          "scheduler, the client and other processes)")
    print(json.dumps({"pairs": pairs, "overhead_per_row_s": overhead,
                      "resolve_per_row_s": resolve_s, "speedup_median": speedup}))


if __name__ == "__main__":
    main()
