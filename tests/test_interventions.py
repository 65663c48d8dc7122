"""Every intervention kind: it happens at its scheduled time, with its direct effect and its first
downstream effect (issue: the immune system, "Interventions").

Scale: the shipped ``imq_mouse_*`` examples on a 500 µm section for 4 days (the response starts on
day 2), each against the untreated ``imq_mouse`` of the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from mscabm import Simulation
from mscabm.processes import immune
from mscabm.vocab import CELL_TYPES

DAYS = 4.0
WIDTH = ["geometry.width_um=500"]
IL17_PRODUCERS = ("th17", "tc17", "gd_t17", "cd8_trm")


def run(name: str, days: float = DAYS, extra: tuple[str, ...] = ()) -> Simulation:
    sim = Simulation(name, rng=11, days=days, overrides=[*WIDTH, *extra])
    while sim.steps < sim.total_steps:
        sim.step()
    sim.measure()
    return sim


def il17a_made(sim: Simulation) -> float:
    """pg/day of IL-17A secreted now by Th17, Tc17, γδ T17 and CD8 TRM cells."""
    rows, behaviour = immune.sense(sim)
    types = sim.state.immune.type[rows]
    producers = np.isin(types, [CELL_TYPES.index(t) for t in IL17_PRODUCERS])
    return float(behaviour[producers, sim.rules.behaviour_index("secrete_il17a")].sum())


@pytest.fixture(scope="module")
def untreated() -> Simulation:
    return run("imq_mouse")


def applied(sim: Simulation, kind: str) -> list[tuple]:
    return [e for e in sim.applied_events if e[1] == kind]


def test_untreated_induction_is_under_way(untreated):
    assert untreated.readouts["count_neutrophils_total"] > 0
    assert il17a_made(untreated) > 0
    assert untreated.readouts["mean_il23_dermis"] > 1.0


def test_il23_knockout_holds_il23_at_zero_and_halves_il17a(untreated):
    sim = run("imq_mouse_il23_knockout")
    assert applied(sim, "knockout_field")[0][0] == 0.0
    assert np.all(sim.state.conc[sim.field_ids.index("il23")] == 0.0)
    assert il17a_made(sim) <= 0.5 * il17a_made(untreated)


def test_keratinocytes_blind_to_il17a_sense_none_and_make_less_cxcl8(untreated):
    sim = run("imq_mouse_il17a_blind_keratinocytes")
    assert applied(sim, "block_response")[0][:3] == (0.0, "block_response", "keratinocyte:il17a")
    index = sim.field_ids.index("il17a")
    assert sim.state.conc[index].max() > 0  # IL-17A is still made
    kc = sim.state.kc
    signals = sim._signals(kc, kc.rows(), 0)
    assert np.all(signals[:, sim.rules.signal_names.index("il17a")] == 0.0)
    blind = sim.readouts["mean_cxcl8_epidermis"]
    assert blind < untreated.readouts["mean_cxcl8_epidermis"]


def test_neutrophil_depletion_leaves_no_neutrophils_microabscesses_or_nets():
    sim = Simulation("imq_mouse_neutrophil_depletion", rng=11, days=DAYS, overrides=WIDTH)
    seen = 0
    while sim.steps < sim.total_steps:
        sim.step()
        table = sim.state.immune
        rows = table.rows()
        seen += int(np.isin(table.type[rows], [2, 3]).sum())
    sim.measure()
    assert applied(sim, "deplete")[0][:3] == (0.0, "deplete", "neutrophils")
    assert seen == 0
    assert sim.readouts["count_microabscess"] == 0
    assert sim.readouts["count_net"] == 0 and sim.net_events == 0


def test_treg_depletion_removes_tregs_and_their_contact_suppression():
    sim = run("imq_mouse_treg_depletion")
    assert applied(sim, "deplete")[0][2] == "tregs"
    assert sim.readouts["count_treg"] == 0 and sim.readouts["count_tr1"] == 0
    rows, _ = immune.sense(sim)
    contact = immune.contact_signals(sim, sim.state.immune.voxel[rows], sim.state.immune.type[rows])
    assert np.all(contact["contact_treg"] == 0)


def test_gd_t17_depletion_removes_them_and_lowers_il17a(untreated):
    sim = run("imq_mouse_gd_t17_depletion")
    assert sim.readouts["count_gd_t17"] == 0
    assert il17a_made(sim) < 0.5 * il17a_made(untreated)


def test_t_cell_depletion_removes_every_t_cell_and_il17a_production(untreated):
    sim = run("imq_mouse_t_cell_depletion")
    assert sim.readouts["count_t_cells_total"] == 0
    assert il17a_made(sim) == 0.0 < il17a_made(untreated)


def test_netosis_block_prevents_nets_and_their_ll37_dna(untreated):
    sim = run("imq_mouse_netosis_blocked")
    assert applied(sim, "block_netosis")
    assert sim.net_events == 0 and sim.readouts["count_net"] == 0
    assert sim.readouts["count_neutrophils_total"] > 0
    ll37_dna = sim.readouts["mean_ll37_dna_dermis"]
    assert ll37_dna < 0.1 * max(untreated.readouts["mean_ll37_dna_dermis"], 1e-9)


def test_inducer_stops_at_the_scheduled_day_and_decays():
    sim = Simulation(
        "imq_mouse",
        rng=11,
        days=3.0,
        overrides=[
            *WIDTH,
            "events=[{day: 0, kind: start_inducer, target: inducer, amount: 1.0},"
            " {day: 1.5, kind: stop_inducer, target: inducer}]",
        ],
    )
    levels = []
    while sim.steps < sim.total_steps:
        sim.step()
        levels.append(sim.inducer_level)
    assert applied(sim, "stop_inducer")[0][0] == pytest.approx(1.5)
    per_day = sim.steps_per_day
    # applied on day 0 and day 1, not on day 2 (after the stop): the level only falls after 1.5
    after_stop = np.array(levels[int(1.5 * per_day) :])
    assert np.all(np.diff(after_stop) < 0)
    around_day1 = np.diff(levels[per_day - 3 : per_day + 3])
    assert np.any(around_day1 > 0)  # the day-1 application


def test_interventions_are_recorded_in_the_run_file(tmp_path):
    import subprocess
    import sys

    import mscabm

    out = tmp_path / "depleted.h5"
    done = subprocess.run(
        [sys.executable, "-m", "mscabm.cli", "run", "imq_mouse_treg_depletion", "-o", str(out),
         "--days", "0.5", "--quiet", "--set", "geometry.width_um=100",
         "--set", "time.frame_interval_days=0.25"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = mscabm.open_run(out).events
    kinds = list(events["kind"])
    assert "start_inducer" in kinds and "deplete" in kinds
    row = events[events["kind"] == "deplete"].iloc[0]
    assert row["target"] == "tregs" and row["day"] == 0.0
