"""Benchmark of the field solver: one 6-minute step of many fields on one thread.

Run ``python benchmarks/bench_fields.py [--quick] [--json out.json]``. Prints a table and never
asserts timings. OMP_NUM_THREADS is set to 1 here before NumPy is imported; OPENBLAS_* and
similar variables are left as they are (nothing timed here calls BLAS).

Cases: uniform coefficients (the direct DCT/FFT + tridiagonal path) and a layered skin with an
undulating surface, air above (D = 0), a stratum-corneum barrier (D × 0.01), region-specific
decay and per-voxel uptake (the general, multigrid-preconditioned CG path), each with 16 fields
and 1 field; the earlier simulation size, 70 × 100 × 12 fields at rtol 1e-6, on a synthetic
skin like the running model's: a surface that jumps column by column, a 1-3 voxel stratum
corneum with its own decay, 6 fields secreting and 6 at zero; and a 2 mm psoriasis_human
section, 90 × 200 × 20 fields in 7 coefficient sets at the engine's tolerance.
Baseline in the same run: the same implicit step of the same discretisation solved by a plain
vectorised NumPy Jacobi-preconditioned CG with ``np.roll`` stencils, same tolerance, same warm
start.

Reference figures measured on this machine for PhysiCell's BioFVM (float64, one core): one LOD
call at 512² × 16 fields takes 21 ms; PhysiCell's default 0.01-minute diffusion step needs 600
calls per 6-minute cell step, ≈ 12.6 s. Target: ≥ 100× that, i.e. ≤ 126 ms per cell step at
512² × 16 with uniform coefficients.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mscabm.diffusion import FieldSolver

VOXEL_UM = 10.0
DT_MIN = 6.0
RTOL = 1e-12
ENGINE_RTOL = 1e-4  # FieldSolver(..., rtol=) in mscabm/engine.py
BIOFVM_LOD_CALL_S = 0.021  # 512² × 16 fields, one core, measured here
BIOFVM_CALLS_PER_CELL_STEP = 600  # 6 min / 0.01 min
BIOFVM_CELL_STEP_S = BIOFVM_LOD_CALL_S * BIOFVM_CALLS_PER_CELL_STEP
TARGET_S = BIOFVM_CELL_STEP_S / 100.0


def field_coefficients(shape, n_fields, kind, seed=0):
    """Per-field diffusion (µm²/min) and loss (1/min) arrays for one benchmark case."""
    diffusion_tissue = np.linspace(3000.0, 12000.0, n_fields) if n_fields > 1 else np.array([6e3])
    half_life = np.linspace(5.0, 60.0, n_fields) if n_fields > 1 else np.array([10.0])
    decay_tissue = np.log(2.0) / half_life
    if kind == "uniform":
        return diffusion_tissue, decay_tissue
    rng = np.random.default_rng(seed)
    nz = shape[0]
    lateral = np.indices(shape[1:]).reshape(len(shape) - 1, -1)
    wave = sum(np.sin(2 * np.pi * (c + 0.5) / 64.0) for c in lateral).reshape(shape[1:])
    surface = (0.85 * nz + 4.0 * wave).astype(int)  # top tissue row of each column
    z = np.arange(nz).reshape((nz,) + (1,) * (len(shape) - 1))
    air = z > surface
    corneum = ~air & (z > surface - 2)
    epidermis = ~air & ~corneum & (z > surface - 12)
    uptake = np.where((rng.random(shape) < 0.1) & ~air, 0.5, 0.0)
    diffusion = np.empty((n_fields, *shape))
    decay = np.empty((n_fields, *shape))
    for field in range(n_fields):
        diffusion[field] = np.where(
            air, 0.0, np.where(corneum, 0.01, 1.0) * diffusion_tissue[field]
        )
        region = np.where(epidermis | corneum, 2.0, 1.0) * decay_tissue[field]
        decay[field] = np.where(air, 0.0, region + uptake)
    return diffusion, decay


def model_skin(seed=0):
    """The engine's grid: 70 × 100 voxels, 12 fields, surface rows 25-36, 1-3 voxel corneum.

    Returns diffusion, decay, concentrations and sources (6 secreting fields, 6 at zero).
    """
    rng = np.random.default_rng(seed)
    shape, n_fields = (70, 100), 12
    steps = rng.integers(-1, 2, size=shape[1])
    surface = np.clip(30 + np.cumsum(steps) - np.cumsum(steps).mean(), 25, 36).astype(int)
    barrier = rng.integers(1, 4, size=shape[1])
    z = np.arange(shape[0])[:, None]
    air = z > surface
    corneum = ~air & (z > surface - barrier)
    epidermis = ~air & ~corneum & (z > surface - 12)
    tissue_d = np.where(np.arange(n_fields) >= 8, 4500.0, 3000.0)
    tissue_decay = np.log(2.0) / np.where(np.arange(n_fields) % 3 == 0, 30.0, 20.0)
    diffusion = np.empty((n_fields, *shape))
    decay = np.empty((n_fields, *shape))
    source = np.zeros((n_fields, *shape))
    for field in range(n_fields):
        diffusion[field] = np.where(air, 0.0, np.where(corneum, 0.01, 1.0) * tissue_d[field])
        decay[field] = np.where(air, 0.0, np.where(corneum, 0.1, 1.0) * tissue_decay[field])
        if field % 2 == 1:  # secreted by some keratinocytes
            source[field] = np.where(epidermis & (rng.random(shape) < 0.2), 5.0 * field, 0.0)
    return diffusion, decay, np.zeros((n_fields, *shape)), source


# psoriasis_human's transported fields: (diffusion µm²/min, tissue half-life min) per field;
# 20 fields in 7 distinct coefficient sets, as in mscabm.defaults.
SECTION_FIELDS = [(3000.0, 20.0)] * 6 + [(3000.0, 30.0), (3000.0, 20.0), (4500.0, 30.0),
                  (4500.0, 30.0), (4500.0, 60.0), (3000.0, 30.0)] + [(3000.0, 20.0)] * 3 + [
                  (3000.0, 10.0), (3000.0, 20.0), (3000.0, 20.0), (12000.0, 5.0),
                  (300.0, 240.0)]  # fmt: skip


def section_skin(seed=0):
    """A 2 mm psoriasis_human section: 90 × 200 voxels, 20 fields in 7 coefficient sets.

    Surface rows 24-31 jumping column by column, a 1-3 voxel stratum corneum (D × 0.01,
    half-life 240 min), uptake by 10 % of the tissue voxels, most fields secreted in the
    epidermis. Returns diffusion, decay, concentrations and sources.
    """
    rng = np.random.default_rng(seed)
    shape, n_fields = (90, 200), len(SECTION_FIELDS)
    steps = rng.integers(-1, 2, size=shape[1])
    surface = np.clip(28 + np.cumsum(steps) - np.cumsum(steps).mean(), 24, 31).astype(int)
    barrier = rng.integers(1, 4, size=shape[1])
    z = np.arange(shape[0])[:, None]
    air = z > surface
    corneum = ~air & (z > surface - barrier)
    epidermis = ~air & ~corneum & (z > surface - 12)
    uptake = np.where(epidermis & (rng.random(shape) < 0.1), 0.05, 0.0)
    diffusion = np.empty((n_fields, *shape))
    decay = np.empty((n_fields, *shape))
    source = np.zeros((n_fields, *shape))
    for field, (tissue_d, half_life) in enumerate(SECTION_FIELDS):
        diffusion[field] = np.where(air, 0.0, np.where(corneum, 0.01, 1.0) * tissue_d)
        loss = np.where(corneum, np.log(2.0) / 240.0, np.log(2.0) / half_life + uptake)
        decay[field] = np.where(air, 0.0, loss)
        if field % 4 != 3:  # most are secreted by some keratinocytes
            source[field] = np.where(epidermis & (rng.random(shape) < 0.2), 5.0, 0.0)
    return diffusion, decay, np.zeros((n_fields, *shape)), source


def initial_state(shape, n_fields):
    """Concentrations and sources: a few secreting voxels near the top of the tissue."""
    conc = np.zeros((n_fields, *shape))
    source = np.zeros_like(conc)
    row = int(0.8 * shape[0])
    source[(slice(None), row) + (slice(None, None, 37),) * (len(shape) - 1)] = 100.0
    source[(slice(None), shape[0] // 4) + (slice(5, None, 53),) * (len(shape) - 1)] = 20.0
    return conc, source


class NumpyBaseline:
    """The same implicit step, solved by Jacobi-preconditioned CG with np.roll stencils."""

    def __init__(self, shape, diffusion, decay, lateral_bc="periodic"):
        n_fields = diffusion.shape[0]
        full = (n_fields, *shape)
        diffusion = np.broadcast_to(diffusion.reshape(diffusion.shape + (1,) * len(shape))
                                    if diffusion.ndim == 1 else diffusion, full)  # fmt: skip
        decay = np.broadcast_to(
            decay.reshape(decay.shape + (1,) * len(shape)) if decay.ndim == 1 else decay, full
        )
        scale = DT_MIN / VOXEL_UM**2
        self.weights = []  # weight of the face between a voxel and its + neighbour, per axis
        diagonal = 1.0 + DT_MIN * decay
        for axis in range(1, len(full)):
            neighbour = np.roll(diffusion, -1, axis=axis)
            total = diffusion + neighbour
            weight = scale * np.divide(
                2 * diffusion * neighbour, total, out=np.zeros(full), where=total > 0
            )
            if axis == 1 or lateral_bc == "no_flux":  # no face across the border
                last = [slice(None)] * len(full)
                last[axis] = -1
                weight[tuple(last)] = 0.0
            self.weights.append(weight)
            diagonal = diagonal + weight + np.roll(weight, 1, axis=axis)
        self.diagonal = diagonal

    def apply(self, values):
        out = self.diagonal * values
        for axis, weight in enumerate(self.weights, start=1):
            out -= weight * np.roll(values, -1, axis=axis)
            out -= np.roll(weight * values, 1, axis=axis)
        return out

    def step(self, conc, source, rtol=RTOL):
        rhs = conc + DT_MIN * source
        axes = tuple(range(1, conc.ndim))
        x = conc.copy()
        residual = rhs - self.apply(x)
        tolerance = rtol * np.sqrt(np.sum(rhs * rhs, axis=axes))
        z = residual / self.diagonal
        direction = z.copy()
        rz = np.sum(residual * z, axis=axes)
        shape = (-1,) + (1,) * len(axes)
        for iteration in range(1, 20001):
            a_direction = self.apply(direction)
            curvature = np.sum(direction * a_direction, axis=axes)
            alpha = np.divide(rz, curvature, out=np.zeros_like(rz), where=curvature > 0)
            x += alpha.reshape(shape) * direction
            residual -= alpha.reshape(shape) * a_direction
            if np.all(np.sqrt(np.sum(residual * residual, axis=axes)) <= tolerance):
                conc[...] = x
                return iteration
            z = residual / self.diagonal
            rz_new = np.sum(residual * z, axis=axes)
            beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
            direction = z + beta.reshape(shape) * direction
            rz = rz_new
        raise RuntimeError("baseline CG did not converge")


def _time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _case(kind, shape, diffusion, decay, conc, source, rtol, repeats, baseline=True):
    """Time one step from a warmed-up state; compare with the NumPy baseline."""
    n_fields = diffusion.shape[0]
    solver = FieldSolver(shape, VOXEL_UM, DT_MIN, n_fields, rtol=rtol)
    start = time.perf_counter()
    solver.set_coefficients(diffusion, decay)
    setup_s = time.perf_counter() - start
    setup_s = min(setup_s, _time(lambda: solver.set_coefficients(diffusion, decay), repeats))
    for _ in range(2):  # warm up, and leave a state with structure to warm-start from
        solver.step(conc, source)
    state = conc.copy()

    def ours(solver=solver, state=state, source=source):
        work = state.copy()
        solver.step(work, source)
        return work

    ours_s = _time(ours, repeats)
    result = ours()
    iterations = int(solver.last_iterations.max())
    row = {
        "case": kind,
        "path": "direct" if iterations == 0 else "pcg",
        "grid": "x".join(map(str, shape)),
        "n_fields": n_fields,
        "rtol": rtol,
        "setup_s": setup_s,
        "step_s": ours_s,
        "iterations_max": iterations,
        "iterations": solver.last_iterations.tolist(),
        "voxel_field_steps_per_s": n_fields * int(np.prod(shape)) / ours_s,
    }
    if baseline:
        numpy_solver = NumpyBaseline(shape, diffusion, decay)
        work = state.copy()
        start = time.perf_counter()
        baseline_iterations = numpy_solver.step(work, source, rtol)
        baseline_s = time.perf_counter() - start
        row["numpy_baseline_s"] = baseline_s
        row["numpy_baseline_iterations"] = baseline_iterations
        row["speedup_vs_numpy"] = baseline_s / ours_s
        row["max_rel_difference_vs_numpy"] = float(
            np.max(np.abs(work - result)) / np.max(np.abs(result))
        )
    return row


def run_benchmark(quick: bool = False) -> list[dict]:
    """Time one 6-minute step for each case; return one dict per case."""
    size = 128 if quick else 512
    shape = (size, size)
    repeats = 3 if quick else 5
    rows = []
    diffusion, decay, conc, source = model_skin()
    rows.append(_case("model", (70, 100), diffusion, decay, conc, source, 1e-6, 5 * repeats))
    diffusion, decay, conc, source = section_skin()
    rows.append(_case("section", (90, 200), diffusion, decay, conc, source, ENGINE_RTOL,
                      5 * repeats))  # fmt: skip
    for kind in ("uniform", "skin"):
        for n_fields in (16, 1):
            diffusion, decay = field_coefficients(shape, n_fields, kind)
            conc, source = initial_state(shape, n_fields)
            row = _case(kind, shape, diffusion, decay, conc, source, RTOL, repeats)
            if kind == "uniform" and n_fields == 16 and size == 512:
                row["biofvm_cell_step_s"] = BIOFVM_CELL_STEP_S
                row["speedup_vs_biofvm"] = BIOFVM_CELL_STEP_S / row["step_s"]
                row["target_met"] = bool(row["step_s"] <= TARGET_S)
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    """Print the benchmark rows as a table, with the BioFVM comparison."""
    print(
        f"{'case':8} {'path':6} {'grid':9} {'fields':>6} {'rtol':>6} {'setup ms':>8} "
        f"{'step ms':>9} {'iters':>5} {'Mvox-steps/s':>12} {'numpy ms':>10} {'np iters':>8} "
        f"{'vs numpy':>8} {'diff':>8}"
    )
    for row in rows:
        print(
            f"{row['case']:8} {row['path']:6} {row['grid']:9} {row['n_fields']:>6} "
            f"{row['rtol']:6.0e} {row['setup_s'] * 1e3:8.2f} {row['step_s'] * 1e3:9.2f} "
            f"{row['iterations_max']:>5} {row['voxel_field_steps_per_s'] / 1e6:12.1f} "
            f"{row['numpy_baseline_s'] * 1e3:10.1f} {row['numpy_baseline_iterations']:>8} "
            f"{row['speedup_vs_numpy']:7.1f}x {row['max_rel_difference_vs_numpy']:8.1e}"
        )
    print(
        f"\nBioFVM reference (measured here, float64, one core): {BIOFVM_LOD_CALL_S * 1e3:.0f} ms "
        f"per LOD call at 512²×16, × {BIOFVM_CALLS_PER_CELL_STEP} calls per 6 min "
        f"= {BIOFVM_CELL_STEP_S:.1f} s per cell step; target ≤ {TARGET_S * 1e3:.0f} ms (≥ 100×)."
    )
    for row in rows:
        if "speedup_vs_biofvm" in row:
            print(
                f"uniform 512²×16: {row['step_s'] * 1e3:.1f} ms per cell step = "
                f"{row['speedup_vs_biofvm']:.0f}× BioFVM at its default step; "
                f"target {'met' if row['target_met'] else 'NOT met'}."
            )
            break
    else:
        print("(quick run: the BioFVM comparison needs the 512² grid)")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128² grid, fewer repeats")
    parser.add_argument("--json", type=Path, help="write the rows as JSON to this file")
    args = parser.parse_args(argv)
    rows = run_benchmark(quick=args.quick)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
