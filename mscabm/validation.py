"""Public calibration targets of BIOLOGY.md, run on the shipped scenarios.

A target is met when the mean over the seeds is in range and at least 4 of 5 seeds are (in
general: all but one of ``n`` seeds, at least 80 %). ``mscabm validate-biology`` runs the full
size; ``reduced=True`` runs a narrower section for fewer days (the CI scale, stated in
``tests/test_validation.py``).

Targets implemented here:

``1h``  healthy human, ≥ 60 days from the shipped state: viable thickness stationary within
        ±10 % (largest deviation of its 7-day running mean from the profile's healthy baseline,
        the long-run mean stored with the shipped state), cycle time 200-460 h, growth
        fraction 0.5-0.7, production 1,000-1,500 cells/day/mm² (kinetics averaged over the last
        20 days).
``1m``  healthy mouse, 30 days: viable thickness stationary within ±10 %; turnover reported.
``2``   sustained psoriatic drive (human): cycle 30-100 h, growth fraction ≥ 0.9, production
        ≥ 10× healthy (healthy: the ``1h`` runs of the same seeds), transit 4-8 days, viable
        thickness 2-3.5× healthy, suprabasal mitotic index ≥ 1 (averages over the last 7 days).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

# (scenario, days, width override µm) at full and reduced scale
_RUNS = {
    "1h": {"full": ("healthy_human", 60.0, None), "reduced": ("healthy_human", 30.0, None)},
    "1m": {"full": ("healthy_mouse", 30.0, None), "reduced": ("healthy_mouse", 15.0, None)},
    "2": {
        "full": ("psoriatic_drive_human", 30.0, None),
        "reduced": ("psoriatic_drive_human", 21.0, None),
    },
}
_SEEDS = (1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010)


@dataclass
class TargetResult:
    """One line of the validation table."""

    target: str
    quantity: str
    values: list[float]
    low: float
    high: float

    @property
    def n_seeds(self) -> int:
        """Seeds run."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """Mean over seeds (NaN if any seed gave no value)."""
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def n_in_range(self) -> int:
        """Seeds whose value lies in range."""
        return sum(1 for v in self.values if self.low <= v <= self.high)

    @property
    def met(self) -> bool:
        """Mean in range and at least 80 % of seeds in range."""
        mean_ok = self.low <= self.mean <= self.high
        return bool(mean_ok and self.n_in_range >= math.ceil(0.8 * self.n_seeds))

    @property
    def range_text(self) -> str:
        """The range as text."""
        if math.isinf(self.high):
            return f"≥ {self.low:g}"
        if math.isinf(self.low):
            return f"≤ {self.high:g}"
        return f"{self.low:g}-{self.high:g}"

    def as_dict(self) -> dict:
        """JSON-friendly dict."""
        return {**asdict(self), "mean": self.mean, "n_in_range": self.n_in_range, "met": self.met}


def simulate_target(target: str, seed: int, reduced: bool) -> dict[str, float]:
    """Run one seed of one target and return its summary measures."""
    from mscabm.engine import Simulation

    scenario, days, width = _RUNS[target]["reduced" if reduced else "full"]
    overrides = [f"geometry.width_um={width}"] if width else []
    sim = Simulation(scenario, rng=seed, days=days, overrides=overrides)
    steps_per_day = sim.steps_per_day
    baseline_thickness = sim.baseline["viable_epidermis_thickness_um"]
    samples: list[dict[str, float]] = []
    while sim.steps < sim.total_steps:
        sim.step()
        if sim.steps % (steps_per_day // 4) == 0:
            readouts = dict(sim.measure())
            readouts["day"] = sim.time_days
            samples.append(readouts)
    daily = [s for s in samples if abs(s["day"] - round(s["day"])) < 1e-9]
    thickness = np.array([s["viable_epidermis_thickness_um"] for s in daily])
    weekly = (
        np.convolve(thickness, np.ones(7) / 7, mode="valid") if len(thickness) >= 7 else thickness
    )

    def late_mean(name: str, last_days: float) -> float:
        values = [s[name] for s in samples if s["day"] > days - last_days and np.isfinite(s[name])]
        return float(np.mean(values)) if values else float("nan")

    window = 20.0 if target != "2" else 7.0
    return {
        "max_thickness_deviation": float(np.max(np.abs(weekly / baseline_thickness - 1.0))),
        "thickness_ratio": late_mean("proxy_thickness_ratio", window),
        "cycle_time_h": late_mean("cycle_time_measured_h", window),
        "growth_fraction": late_mean("growth_fraction_measured", window),
        "production_per_day_per_mm2": late_mean("production_per_day_per_mm2", window),
        "transit_time_days": late_mean("transit_time_days", window),
        "suprabasal_mitotic_index": late_mean("suprabasal_mitotic_index", window),
        "score_total": late_mean("score_total", window),
    }


def _job(args: tuple[str, int, bool]) -> tuple[str, int, dict[str, float]]:
    target, seed, reduced = args
    return target, seed, simulate_target(target, seed, reduced)


def run_targets(
    targets: Sequence[str],
    *,
    seeds: int = 5,
    reduced: bool = False,
    workers: int | None = None,
    progress: Callable[[str], object] | None = None,
) -> list[TargetResult]:
    """Run calibration targets over seeds (in parallel processes) and judge them.

    Parameters
    ----------
    targets
        Target ids: ``"1h"``, ``"1m"``, ``"2"``.
    seeds
        Seeds per target (the first ``seeds`` of a fixed list).
    reduced
        CI scale (narrower sections, fewer days).
    workers
        Processes (default: one per core).
    progress
        Called with a line of text as runs finish.

    Returns
    -------
    list of TargetResult
    """
    unknown = [t for t in targets if t not in _RUNS]
    if unknown:
        raise ValueError(f"unknown target(s) {', '.join(unknown)}; valid: {', '.join(_RUNS)}")
    if not 1 <= seeds <= len(_SEEDS):
        raise ValueError(f"--seeds must be 1-{len(_SEEDS)}")
    needed = list(dict.fromkeys([*targets, *(["1h"] if "2" in targets else [])]))
    jobs = [(t, s, reduced) for t in needed for s in _SEEDS[:seeds]]
    results: dict[tuple[str, int], dict[str, float]] = {}
    # one single-threaded simulation per core ("spawn": libgomp is not fork-safe once used)
    previous_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 1, mp_context=context
        ) as pool:
            for target, seed, summary in pool.map(_job, jobs):
                results[(target, seed)] = summary
                if progress is not None:
                    progress(f"target {target} seed {seed} done")
    finally:
        if previous_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous_threads
    rows: list[TargetResult] = []
    used = _SEEDS[:seeds]

    def values(target: str, name: str) -> list[float]:
        return [results[(target, s)][name] for s in used]

    if "1h" in targets:
        rows += [
            TargetResult(
                "1h",
                "max |7-day thickness/baseline − 1|",
                values("1h", "max_thickness_deviation"),
                0.0,
                0.10,
            ),
            TargetResult("1h", "cycle time (h)", values("1h", "cycle_time_h"), 200.0, 460.0),
            TargetResult("1h", "growth fraction", values("1h", "growth_fraction"), 0.5, 0.7),
            TargetResult(
                "1h",
                "production (/day/mm²)",
                values("1h", "production_per_day_per_mm2"),
                1000.0,
                1500.0,
            ),
        ]
    if "1m" in targets:
        rows.append(
            TargetResult(
                "1m",
                "max |7-day thickness/baseline − 1|",
                values("1m", "max_thickness_deviation"),
                0.0,
                0.10,
            )
        )
    if "2" in targets:
        healthy = values("1h", "production_per_day_per_mm2")
        fold = [
            p / h for p, h in zip(values("2", "production_per_day_per_mm2"), healthy, strict=True)
        ]
        rows += [
            TargetResult("2", "cycle time (h)", values("2", "cycle_time_h"), 30.0, 100.0),
            TargetResult("2", "growth fraction", values("2", "growth_fraction"), 0.9, 1.0),
            TargetResult("2", "production fold over healthy", fold, 10.0, math.inf),
            TargetResult("2", "transit time (days)", values("2", "transit_time_days"), 4.0, 8.0),
            TargetResult("2", "thickness ratio", values("2", "thickness_ratio"), 2.0, 3.5),
            TargetResult(
                "2",
                "suprabasal mitotic index",
                values("2", "suprabasal_mitotic_index"),
                1.0,
                math.inf,
            ),
        ]
    return rows
