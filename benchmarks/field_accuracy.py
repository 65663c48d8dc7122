"""Accuracy of the engine's field solve (rtol 1e-4) against a 1e-12 solve on a running plaque.

Restores a ``psoriasis_human`` plaque (the cached checkpoint of ``bench_plaque_steps.py``) and
runs it; every field step is solved twice from two sets of concentrations: the engine's at its
rtol, and a shadow set carried forward at 1e-12. What the engine changes in the fields outside
the solve (neutrophil uptake of IL-17A, NET release, air cleared where the surface moved) is
applied to the shadow as well, so the two differ only by the solver's tolerance. Prints the
worst relative L2 error (over tissue voxels) and the worst relative error of the total of each
field over the steps. The figures quoted in :mod:`mscabm.diffusion` come from
``python benchmarks/field_accuracy.py --days 60 --steps 200``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_plaque_steps import plaque_checkpoint, restored

from mscabm.diffusion import FieldSolver
from mscabm.processes.transport import REGION_AIR


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=60.0, help="plaque age (default 60)")
    parser.add_argument("--width-um", type=float, default=2000.0, help="section width")
    parser.add_argument("--steps", type=int, default=200, help="steps compared")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "mscabm_bench_plaque"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    sim = restored(plaque_checkpoint(args.days, args.width_um, args.cache))
    n_fields = len(sim.field_ids)
    shadow = sim.state.conc.copy()
    after_last_solve: list[np.ndarray] = []
    worst_l2 = np.zeros(n_fields)
    worst_total = np.zeros(n_fields)
    engine_step = FieldSolver.step

    def both(solver: FieldSolver, conc: np.ndarray, source=None, active=None) -> None:
        air = sim.state.region == REGION_AIR
        engine = conc.reshape(n_fields, -1)
        if after_last_solve:  # the engine's own changes since its last solve, on the shadow too
            shadow[...] += engine - after_last_solve[0]
        shadow[:, air] = 0.0
        rtol = solver.rtol
        solver.rtol = 1e-12
        try:
            engine_step(solver, shadow.reshape(conc.shape), source, active)
        finally:
            solver.rtol = rtol
        engine_step(solver, conc, source, active)
        after_last_solve[:] = [engine.copy()]
        got, tight = engine[:, ~air], shadow[:, ~air]
        norm = np.linalg.norm(tight, axis=1)
        total = tight.sum(axis=1)
        l2 = np.linalg.norm(got - tight, axis=1) / np.where(norm > 0, norm, 1.0)
        off = np.abs(got.sum(axis=1) - total) / np.where(total > 0, total, 1.0)
        np.maximum(worst_l2, l2, out=worst_l2)
        np.maximum(worst_total, off, out=worst_total)

    FieldSolver.step = both
    try:
        for _ in range(args.steps):
            sim.step()
    finally:
        FieldSolver.step = engine_step
    print(
        f"{args.steps} steps from day {args.days:g} ({args.width_um:g} µm), rtol "
        f"{sim.solver.rtol:g} against 1e-12; worst fields:"
    )
    print(f"{'field':10s} {'rel. L2':>9s} {'rel. total':>10s}")
    for index in np.argsort(-worst_l2)[:8]:
        print(f"{sim.field_ids[index]:10s} {worst_l2[index]:9.2e} {worst_total[index]:10.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
