"""Readouts: fixed score tables, unit conversions, event-based kinetics."""

from __future__ import annotations

import numpy as np
import pytest

from mscabm.engine import Simulation
from mscabm.readouts import ERYTHEMA_BINS, SCALING_BINS, THICKNESS_BINS, score

TINY = ["geometry.width_um=100"]


@pytest.mark.parametrize(
    ("value", "bins", "expected"),
    [
        (1.0, THICKNESS_BINS, 0), (1.2499, THICKNESS_BINS, 0), (1.25, THICKNESS_BINS, 1),
        (1.75, THICKNESS_BINS, 2), (2.49, THICKNESS_BINS, 2), (2.5, THICKNESS_BINS, 3),
        (3.5, THICKNESS_BINS, 4), (9.0, THICKNESS_BINS, 4),
        (0.2, SCALING_BINS, 0), (0.25, SCALING_BINS, 1), (0.75, SCALING_BINS, 2),
        (1.5, SCALING_BINS, 3), (2.5, SCALING_BINS, 4),
        (1.19, ERYTHEMA_BINS, 0), (1.2, ERYTHEMA_BINS, 1), (1.5, ERYTHEMA_BINS, 2),
        (2.0, ERYTHEMA_BINS, 3), (2.5, ERYTHEMA_BINS, 4),
    ],
)  # fmt: skip
def test_score_tables_of_biology_md(value, bins, expected):
    assert score(value, bins) == expected


def test_score_of_missing_value_is_missing():
    assert np.isnan(score(float("nan"), THICKNESS_BINS))


def test_healthy_state_scores_zero_and_thickness_comes_from_heights():
    sim = Simulation("healthy_human", rng=1)  # the shipped state, untiled
    readouts = sim.readouts
    assert readouts["score_total"] == 0
    # viable thickness is the mean over columns of (top of the last viable cell − membrane)
    kc = sim.state.kc
    rows = kc.rows()
    tops = np.zeros(sim.layout.n_columns)
    np.maximum.at(tops, kc.column[rows], kc.z_bottom_um[rows] + kc.height_um[rows])
    expected = np.mean(tops - sim.layout.bm_height_um)
    assert readouts["viable_epidermis_thickness_um"] == pytest.approx(expected, rel=1e-12)
    # stratum corneum thickness is the summed corneocyte heights per column
    sc = sim.state.sc
    sc_rows = sc.rows()
    per_column = np.bincount(sc.column[sc_rows], weights=sc.height_um[sc_rows], minlength=sim.layout.n_columns)
    assert readouts["stratum_corneum_thickness_um"] == pytest.approx(per_column.mean(), rel=1e-12)


def test_production_is_counted_from_granular_entries_and_converted_per_mm2():
    sim = Simulation("healthy_human", rng=2, overrides=TINY)
    for _ in range(2 * sim.steps_per_day):
        sim.step()
    readouts = sim.measure()
    entries = np.count_nonzero(sim.state.events.concatenated("production_step") > 0)
    per_day = entries / 2.0  # two days simulated, window 7 days covers them all
    width_mm = 100 / 1000
    assert readouts["production_per_day_per_mm2"] == pytest.approx(per_day / width_mm * 1000 / 10.0)
    assert readouts["production_per_day_per_mm_bm"] == pytest.approx(
        per_day / width_mm / sim.layout.bm_length_ratio
    )


def test_cycle_time_is_measured_from_division_intervals():
    sim = Simulation("psoriatic_drive_human", rng=3, overrides=TINY)
    for _ in range(3 * sim.steps_per_day):
        sim.step()
    readouts = sim.measure()
    intervals = sim.state.events.concatenated("division_interval_steps")
    steps = sim.state.events.concatenated("division_step")
    recent = intervals[steps > sim.steps - 7 * sim.steps_per_day]
    assert len(recent) > 0
    assert readouts["cycle_time_measured_h"] == pytest.approx(np.mean(recent) * 0.1)
    # under the drive, divisions come faster than in the same tissue without it
    healthy = Simulation("healthy_human", rng=3, overrides=TINY)
    for _ in range(3 * healthy.steps_per_day):
        healthy.step()
    assert readouts["divisions_per_day"] > 2 * healthy.measure()["divisions_per_day"]


def test_field_means_per_layer_use_regions():
    sim = Simulation("psoriatic_drive_human", rng=1, overrides=TINY)
    assert sim.readouts["mean_il17a_epidermis"] == pytest.approx(10.0)
    assert sim.readouts["mean_il17a_dermis"] == pytest.approx(10.0)
    assert sim.readouts["mean_cxcl8_epidermis"] > sim.readouts["mean_cxcl8_dermis"] > 0
