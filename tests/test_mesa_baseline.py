"""The Mesa baseline of the engine benchmark reproduces the engine's summary statistics.

``benchmarks/mesa_keratinocytes.py`` re-implements the keratinocyte rules as a plain Mesa 3 model
(one CellAgent per cell, PropertyLayers for the fields, its own random numbers). A speed-up
against it only means something if it does the same work, so this file runs both from the same
initial tissue and checks that their statistics agree. Timings are never asserted here; the
benchmark prints them.

Scale (reduced; the benchmark's own table is the full comparison): a 200 µm section (20
columns), 2 days (480 steps), seeds 1 and 2, scenarios ``healthy_human`` and
``psoriatic_drive_human``; counts are summed over the two seeds. 10-25 s on one core.

Tolerances and their derivation:

* viable epidermis thickness (mean over the two seeds) within 10 %. Measured at this scale over
  seeds 1-8 (both models): the seed-to-seed SD of the thickness is 1.9 µm (psoriatic) and
  2.6 µm (healthy), and the engine−Mesa difference of one seed never exceeded 3.0 µm. A
  two-seed mean has SD σ/√2, so the difference of the two models' means has SD ≤ σ (less, as
  both start from the same tissue): 10 % (≈ 6.5 µm) is ≥ 2.5 σ for healthy and ≈ 3.4 σ for
  psoriatic runs;
* event counts (divisions, cells finishing the spinous stage = production, corneocytes): each
  model's count over the window is at most Poisson-variable (a division or a production event
  is a rare event of many cells; production over 2 days is mostly set by the shared initial
  tissue, so the real spread is smaller), so two independent counts N₁, N₂ of one mean differ
  by ``|N₁ − N₂| ≤ 3·√(N₁ + N₂)`` in all but ≈ 0.3 % of runs (normal approximation to the
  difference of two Poisson counts, variance N₁ + N₂);
* stratum-corneum thickness: every corneocyte adds ``corneocyte_height_um / n_columns`` to the
  mean, so the thickness bound is the corneocyte-count bound times that height;
* parakeratosis fraction: binomial over the corneocytes, ``|p₁ − p₂| ≤ 3·√(p̄(1 − p̄)(1/C₁ +
  1/C₂))`` with the pooled fraction p̄;
* final number of viable cells: it changes by divisions minus cornifications, so the bound is
  ``3·√(D₁ + D₂ + C₁ + C₂)`` over those counts.

A power check makes sure these bounds can fail: the psoriatic drive raises the engine's
production and divisions by more than the bounds, so a Mesa model that ignored the rules (or
their fields) and behaved as in health would fall outside them. Checked by hand: a Mesa model
leaving G1/G0 at the base rate fails 3 of these tests, one ignoring the differentiation rules
fails 7.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from mscabm.scenario import load_scenario

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "mesa_keratinocytes.py"
WIDTH_UM = 200.0
DAYS = 2.0
SEEDS = (1, 2)
SCENARIOS = ("healthy_human", "psoriatic_drive_human")
THICKNESS_RTOL = 0.10
Z = 3.0  # bounds are 3 standard deviations


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("mesa_keratinocytes", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], list[dict]]:
    """Engine and Mesa results per scenario, one per seed."""
    bench = _load_benchmark()
    out: dict[tuple[str, str], list[dict]] = {}
    for scenario in SCENARIOS:
        for name, runner in (("engine", bench.run_engine), ("mesa", bench.run_mesa_baseline)):
            out[scenario, name] = [
                runner(scenario, width_um=WIDTH_UM, days=DAYS, seed=seed) for seed in SEEDS
            ]
    return out


def _total(results: list[dict], key: str) -> float:
    return float(sum(r[key] for r in results))


def _mean(results: list[dict], key: str) -> float:
    return _total(results, key) / len(results)


def _poisson_bound(n1: float, n2: float) -> float:
    return Z * math.sqrt(n1 + n2)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_work(runs, scenario):
    engine, mesa = runs[scenario, "engine"], runs[scenario, "mesa"]
    for e, m in zip(engine, mesa, strict=True):
        assert e["steps"] == m["steps"] == round(DAYS * 240)
        assert e["n_columns"] == m["n_columns"] == round(WIDTH_UM / 10.0)
        assert e["initial_state"] == m["initial_state"]
        # same tissue at the start, so the work differs only by the stochastic growth
        assert m["cell_steps"] == pytest.approx(e["cell_steps"], rel=0.10)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_viable_thickness_agrees(runs, scenario):
    key = "viable_epidermis_thickness_um"
    engine, mesa = _mean(runs[scenario, "engine"], key), _mean(runs[scenario, "mesa"], key)
    assert mesa == pytest.approx(engine, rel=THICKNESS_RTOL), (engine, mesa)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("count", ["n_divisions", "n_produced", "count_corneocyte"])
def test_event_counts_agree(runs, scenario, count):
    engine, mesa = _total(runs[scenario, "engine"], count), _total(runs[scenario, "mesa"], count)
    assert abs(engine - mesa) <= _poisson_bound(engine, mesa), (engine, mesa)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_production_rate_agrees(runs, scenario):
    """The per-mm² rate is the production count through one fixed conversion."""
    key = "production_per_day_per_mm2"
    engine_rate, mesa_rate = (
        _mean(runs[scenario, "engine"], key),
        _mean(runs[scenario, "mesa"], key),
    )
    n_engine = _total(runs[scenario, "engine"], "n_produced")
    n_mesa = _total(runs[scenario, "mesa"], "n_produced")
    voxel_um = load_scenario(scenario).geometry.voxel_um
    # one event in one of the seeds, per day, per mm of section, per mm² (mscabm.readouts)
    per_event = 1.0 / DAYS / (WIDTH_UM / 1000.0) * 1000.0 / voxel_um / len(SEEDS)
    assert engine_rate == pytest.approx(per_event * n_engine)
    assert mesa_rate == pytest.approx(per_event * n_mesa)
    assert abs(engine_rate - mesa_rate) <= per_event * _poisson_bound(n_engine, n_mesa)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_corneum_agrees(runs, scenario):
    engine, mesa = runs[scenario, "engine"], runs[scenario, "mesa"]
    c_engine, c_mesa = _total(engine, "count_corneocyte"), _total(mesa, "count_corneocyte")
    height = load_scenario(scenario).keratinocyte.corneocyte_height_um
    per_cell = height / (WIDTH_UM / 10.0) / len(SEEDS)  # one corneocyte's share of the mean
    key = "stratum_corneum_thickness_um"
    assert abs(_mean(engine, key) - _mean(mesa, key)) <= per_cell * _poisson_bound(c_engine, c_mesa)
    key = "proxy_parakeratosis_fraction"
    p_engine, p_mesa = _mean(engine, key), _mean(mesa, key)
    pooled = (p_engine * c_engine + p_mesa * c_mesa) / max(c_engine + c_mesa, 1.0)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / max(c_engine, 1.0) + 1 / max(c_mesa, 1.0)))
    assert abs(p_engine - p_mesa) <= Z * spread + 1e-12, (p_engine, p_mesa)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cell_number_agrees(runs, scenario):
    engine, mesa = runs[scenario, "engine"], runs[scenario, "mesa"]
    turnover = sum(
        _total(results, key)
        for results in (engine, mesa)
        for key in ("n_divisions", "count_corneocyte")
    )
    difference = _total(engine, "n_cells_final") - _total(mesa, "n_cells_final")
    assert abs(difference) <= Z * math.sqrt(turnover), difference


def test_bounds_have_power(runs):
    """The psoriatic drive moves the engine's counts outside the agreement bounds."""
    for count in ("n_divisions", "n_produced"):
        healthy = _total(runs["healthy_human", "engine"], count)
        psoriatic = _total(runs["psoriatic_drive_human", "engine"], count)
        assert psoriatic - healthy > _poisson_bound(healthy, psoriatic), (count, healthy, psoriatic)
