"""Immune behaviours at small scale (issue: the immune system of psoriatic skin).

Each test builds a narrow human section (200 µm, 20 columns) with no resident immune cells,
places the cells it needs, holds the signals it needs with ``fix_field`` events (held in the
tissue voxels every step) and checks one behaviour.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mscabm import Simulation
from mscabm import scenario as scenario_module
from mscabm.processes import immune
from mscabm.processes.transport import REGION_DERMIS, REGION_EPIDERMIS
from mscabm.vocab import IMMUNE_TYPES, CellType

NO_RESIDENTS = [f"immune.types.{name}.resident_per_mm2=0" for name in IMMUNE_TYPES]


def small(*extra: str, seed: int = 1, days: float = 5.0, events: list | None = None) -> Simulation:
    """A 200 µm human section without immune residents, plus overrides and events."""
    overrides = ["geometry.width_um=200", *NO_RESIDENTS, *extra]
    if events:
        import json

        overrides.append(f"events={json.dumps(events)}")
    return Simulation("healthy_human", rng=seed, overrides=overrides, days=days)


def fix(field_id: str, amount: float, day: float = 0.0) -> dict:
    return {"day": day, "kind": "fix_field", "target": field_id, "amount": amount}


def dermis_voxels(sim: Simulation) -> np.ndarray:
    return np.flatnonzero(sim.state.region == REGION_DERMIS)


def place(sim: Simulation, type_name: str, voxels) -> np.ndarray:
    voxels = np.asarray(voxels, dtype=np.int64)
    return immune._add_cells(sim, immune.code(type_name), voxels)


def count(sim: Simulation, type_name: str) -> int:
    table = sim.state.immune
    rows = table.rows()
    return int(np.count_nonzero(table.type[rows] == immune.code(type_name)))


def behaviour_of(sim: Simulation, type_name: str, name: str) -> np.ndarray:
    rows, behaviour = immune.sense(sim)
    table = sim.state.immune
    these = table.type[rows] == immune.code(type_name)
    return behaviour[these, sim.rules.behaviour_index(name)]


# ------------------------------------------------------------------------------ residents
def test_healthy_sections_hold_their_resident_populations():
    sim = Simulation("healthy_human", rng=3, overrides=["geometry.width_um=1000"], days=2)
    area = sim.layout.surface_mm2
    for name in ("macrophage_m0", "langerhans", "dermal_dc", "th1", "treg", "tc1"):
        expected = sim.spec.immune.types[name].resident_per_mm2 * area
        assert abs(count(sim, name) - expected) <= 1.0, name
    table = sim.state.immune
    rows = table.rows()
    region = sim.state.region[table.voxel[rows]]
    langerhans = table.type[rows] == CellType.LANGERHANS
    assert np.all(region[langerhans] == REGION_EPIDERMIS)
    dermal = table.type[rows] == CellType.MACROPHAGE_M0
    assert np.all(region[dermal] == REGION_DERMIS)
    occupancy = np.bincount(table.voxel[rows], minlength=sim.layout.n_voxels)
    assert np.all(occupancy <= immune.capacity(sim))
    # no inflammation in healthy skin: no neutrophils, no NETs, nothing primed
    for _ in range(240):
        sim.step()
    assert count(sim, "neutrophil") == 0
    assert sim.state.nets.count() == 0
    assert count(sim, "th0") == 0


# ------------------------------------------------------------------------------ chemotaxis
def test_neutrophils_climb_a_cxcl8_gradient_and_wander_without_one():
    sim = small(days=1)
    dermis = dermis_voxels(sim)
    nz_columns = sim.layout.n_columns
    z = dermis // nz_columns
    start = dermis[(z >= 4) & (z <= 6)]
    place(sim, "neutrophil", start[:30])
    # a steep CXCL8 gradient increasing upward through the dermis
    index = sim.field_ids.index("cxcl8")
    depth = np.arange(sim.layout.n_voxels) // nz_columns
    gradient = 50.0 * depth.astype(float)
    rows = sim.state.immune.rows()
    before = (sim.state.immune.voxel[rows] // nz_columns).mean()
    sim.state.conc[index] = gradient
    rows, behaviour = immune.sense(sim)
    immune.move(sim, rows, behaviour)
    after = (sim.state.immune.voxel[rows] // nz_columns).mean()
    assert after - before > 1.0

    # without a gradient there is no preferred direction: lateral steps (periodic) average zero
    flat = small(days=1, seed=2)
    place(flat, "neutrophil", start[:30])
    flat.state.conc[:] = 0.0
    nx = nz_columns
    rows = flat.state.immune.rows()
    total_dx = np.zeros(len(rows))
    for _ in range(20):
        x0 = flat.state.immune.voxel[rows] % nx
        rows_now, behaviour = immune.sense(flat)
        immune.move(flat, rows_now, behaviour)
        x1 = flat.state.immune.voxel[rows] % nx
        total_dx += (x1 - x0 + nx // 2) % nx - nx // 2
        flat.steps += 1  # a new step: new random keys
    assert np.any(total_dx != 0)
    assert abs(total_dx.mean()) < 3 * total_dx.std() / np.sqrt(len(total_dx))


# ------------------------------------------------------------------------------ NETs
def test_net_forms_after_the_delay_and_returns_only_captured_il17a():
    sim = small("immune.netosis_delay_h=3.0", days=2)
    voxel = int(dermis_voxels(sim)[len(dermis_voxels(sim)) // 2])
    rows = place(sim, "neutrophil", [voxel])
    table = sim.state.immune
    table.il17a_bound_pg[rows] = 2.5e-4
    table.netosis_left_h[rows] = sim.spec.immune.netosis_delay_h  # committed now
    index = sim.field_ids.index("il17a")
    sim.state.conc[index] = 0.0
    steps_of_delay = round(3.0 * 60 / sim.dt_min)
    for _ in range(steps_of_delay - 1):
        immune.form_nets(sim)
    assert sim.state.nets.count() == 0 and table.alive[rows[0]]
    mass_before = sim.state.conc[index].sum()
    immune.form_nets(sim)
    assert sim.state.nets.count() == 1 and not table.alive[rows[0]]
    voxel_ml = sim.layout.voxel_um**3 * 1e-12
    released_cell_pg = (
        (sim.state.conc[index].sum() - mass_before) * voxel_ml / immune.field_mass_per_cell_pg(sim)
    )
    assert released_cell_pg == pytest.approx(2.5e-4, rel=1e-12)
    assert sim.net_il17a_released_pg == pytest.approx(2.5e-4, rel=1e-12)


def test_il17a_capture_conserves_mass():
    sim = small(days=1)
    voxels = dermis_voxels(sim)[:5]
    place(sim, "neutrophil", [voxels[0], voxels[0], voxels[1]])
    index = sim.field_ids.index("il17a")
    sim.state.conc[index] = 10.0
    rows, behaviour = immune.sense(sim)
    behaviour[:, sim.rules.behaviour_index("il17a_capture")] = 2.0
    voxel_ml = sim.layout.voxel_um**3 * 1e-12
    field_before = sim.state.conc[index].sum() * voxel_ml / immune.field_mass_per_cell_pg(sim)
    immune.capture_il17a(sim, rows, behaviour)
    field_after = sim.state.conc[index].sum() * voxel_ml / immune.field_mass_per_cell_pg(sim)
    bound = sim.state.immune.il17a_bound_pg[rows].sum()
    assert bound > 0
    assert field_before - field_after == pytest.approx(bound, rel=1e-10)


def test_nets_decay_with_their_half_life():
    sim = small("immune.net_half_life_h=2.0", "immune.efferocytosis_per_h=0", days=3)
    voxels = dermis_voxels(sim)[:400]
    sim.state.nets.add(len(voxels), voxel=voxels, birth_step=0)
    for _ in range(20):  # 2 hours
        immune.decay_nets(sim)
        sim.steps += 1
    left = sim.state.nets.count() / len(voxels)
    assert 0.4 < left < 0.6


def test_netosis_switch_blocks_commitment():
    events = [fix("tnfa", 200.0), {"day": 0, "kind": "block_netosis", "target": "neutrophil"}]
    sim = small(days=1, events=events)
    place(sim, "neutrophil", dermis_voxels(sim)[:100])
    for _ in range(30):
        sim.step()
    table = sim.state.immune
    rows = table.rows()
    assert sim.state.nets.count() == 0
    assert np.all(table.netosis_left_h[rows] < 0)


# ------------------------------------------------------------------------------ polarisation
def _polarise(*events: dict, seed: int = 1) -> dict[str, int]:
    sim = small("immune.types.th0.lifetime_h=100000", days=2, seed=seed, events=list(events))
    place(sim, "th0", dermis_voxels(sim)[::3][:150])
    for _ in range(240):
        sim.step()
    return {name: count(sim, name) for name in ("th0", "th1", "th2", "th17", "treg", "tr1")}


def test_il6_and_tgfb_polarise_to_th17_and_il23_alone_does_not_polarise():
    th17 = _polarise(fix("il6", 50.0), fix("tgfb", 50.0))
    assert th17["th17"] > 100 and th17["th1"] == 0 and th17["treg"] == 0
    il23 = _polarise(fix("il23", 100.0))
    polarised = il23["th1"] + il23["th2"] + il23["th17"] + il23["treg"] + il23["tr1"]
    assert il23["th0"] > 100 and polarised == 0


def test_il12_polarises_to_th1_and_tgfb_with_il2_to_treg():
    # the keratinocytes' constitutive TGF-β is held at zero so that IL-12 acts alone
    th1 = _polarise(fix("il12", 50.0), fix("tgfb", 0.0))
    assert th1["th1"] > 100 and th1["th17"] == 0 and th1["treg"] == 0
    # of the 150 naive cells most become Tregs; some of the rest become Tr1 under the
    # Tregs' own IL-10 (83-99 Tregs and 23-42 Tr1 for seeds 1-3)
    treg = _polarise(fix("tgfb", 50.0), fix("il2", 50.0))
    assert treg["treg"] > 75 and treg["treg"] > 2 * treg["tr1"]
    assert treg["th17"] == 0 and treg["th1"] == 0
    # IL-6 with TGF-β tips toward Th17 instead of Treg
    tipped = _polarise(fix("tgfb", 50.0), fix("il2", 50.0), fix("il6", 50.0))
    assert tipped["th17"] > tipped["treg"]


# ------------------------------------------------------------------------------ suppression
def test_treg_contact_reduces_th17_output():
    sim = small(days=1, events=[fix("il23", 50.0)])
    dermis = dermis_voxels(sim)
    lone = place(sim, "th17", [dermis[10]])
    crowded_voxel = int(dermis[200])
    crowded = place(sim, "th17", [crowded_voxel])
    neighbours = [v for v in sim.neighbour_table[crowded_voxel] if v >= 0]
    place(sim, "treg", neighbours[:3])
    rows, behaviour = immune.sense(sim)
    column = sim.rules.behaviour_index("secrete_il17a")
    row_of = {int(r): i for i, r in enumerate(rows)}
    free_output = behaviour[row_of[int(lone[0])], column]
    suppressed_output = behaviour[row_of[int(crowded[0])], column]
    assert free_output > 0
    assert suppressed_output < 0.5 * free_output


# ------------------------------------------------------------------------------ recruitment
def _neutrophils_recruited(cxcl8: float, dilation: float, seed: int = 1) -> int:
    sim = small(days=2, seed=seed, events=[fix("cxcl8", cxcl8), fix("tnfa", 20.0)])
    sim.state.capillaries.dilation[:] = dilation
    total = 0
    for _ in range(240):
        before = count(sim, "neutrophil")
        _cap_rows, cap_behaviour = sim._sense(sim.state.capillaries, CellType.CAPILLARY)
        sim.capillary_behaviour = cap_behaviour
        immune.recruit(sim)
        total += count(sim, "neutrophil") - before
        sim.steps += 1
    return total


def test_recruitment_scales_with_chemokine_and_perfusion():
    low = sum(_neutrophils_recruited(30.0, 1.0, seed=s) for s in (1, 2, 3))
    high = sum(_neutrophils_recruited(300.0, 1.0, seed=s) for s in (1, 2, 3))
    perfused = sum(_neutrophils_recruited(300.0, 2.0, seed=s) for s in (1, 2, 3))
    assert high > 2 * max(low, 1)
    assert perfused > 1.4 * high


def _capillary_rate(*extra: str, name: str = "recruit_neutrophil") -> float:
    sim = small(*extra, days=1, events=[fix("cxcl8", 300.0), fix("tnfa", 20.0)])
    sim.step()  # the held fields are in place after one step
    _rows, behaviour = sim._sense(sim.state.capillaries, CellType.CAPILLARY)
    rates = behaviour[:, sim.rules.behaviour_index(name)]
    assert np.ptp(rates) == 0.0  # every site sees the same held signals
    return float(rates[0])


def test_recruitment_per_site_scales_with_the_skin_a_site_stands_for():
    assert scenario_module.capillary_site_scale(small(days=0.1).spec) == 1.0
    reference = _capillary_rate()
    assert reference > 0
    # loops every 25 voxels instead of 12: each site stands for 25/12 as much skin
    sparse = _capillary_rate("capillary.spacing_um=250")
    assert sparse == pytest.approx(reference * 25 / 12, rel=1e-12)
    mouse = Simulation("healthy_mouse", rng=1, days=0.1).spec
    assert scenario_module.capillary_site_scale(mouse) == pytest.approx(500.0 / 1200.0)


# ------------------------------------------------------------------------------ dendritic cells
def _output_of_placed(sim: Simulation, type_name: str, behaviour: str) -> float:
    """One behaviour of one cell of ``type_name`` placed in the dermis, after one step."""
    place(sim, type_name, [dermis_voxels(sim)[100]])
    sim.step()
    values = behaviour_of(sim, type_name, behaviour)
    return float(values[0]) if len(values) else float("nan")


def mouse_section(*events: dict) -> Simulation:
    """A 200 µm mouse section without immune residents, with held fields."""
    no_residents = [f"immune.types.{n}.resident_per_mm2=0" for n in IMMUNE_TYPES]
    held = json.dumps(list(events))
    return Simulation(
        "healthy_mouse", rng=1, days=1,
        overrides=["geometry.width_um=200", *no_residents, f"events={held}"],
    )  # fmt: skip


def test_mouse_cytokine_matured_dcs_make_il23_only_on_a_pattern_signal():
    cytokines = [fix("ifna", 100.0), fix("tnfa", 100.0)]
    assert _output_of_placed(mouse_section(*cytokines), "dc_mature", "secrete_il23") == 0.0
    assert _output_of_placed(small(days=1, events=cytokines), "dc_mature", "secrete_il23") > 0.0


def test_mouse_myeloid_dcs_ignore_ll37_dna_and_pdcs_do_not():
    nucleic = fix("ll37_dna", 500.0)
    human = _output_of_placed(small(days=1, events=[nucleic]), "dermal_dc", "become_dc_mature")
    # what is left in the mouse is the maturation by the tissue's baseline TNF-α and IL-1β
    assert _output_of_placed(mouse_section(nucleic), "dermal_dc", "become_dc_mature") < 0.01 * human
    assert _output_of_placed(mouse_section(nucleic), "dc_mature", "secrete_il23") == 0.0
    assert _output_of_placed(mouse_section(nucleic), "pdc", "secrete_ifna") > 0.0


# ------------------------------------------------------------------------------ γδ T17
def test_gd_t17_cells_expand_under_il23_only_with_il1b():
    alone = small(days=1, events=[fix("il23", 50.0), fix("il1b", 0.0)])
    assert _output_of_placed(alone, "gd_t17", "proliferation") == 0.0
    both = small(days=1, events=[fix("il23", 50.0), fix("il1b", 50.0)])
    assert _output_of_placed(both, "gd_t17", "proliferation") > 0.0


# ------------------------------------------------------------------------------ lymph node
def test_lymph_node_priming_respects_its_delay():
    sim = small("immune.lymph_node.priming_delay_days=2.0", days=4)
    sim.lymph_node_arrivals(int(CellType.DC_MATURE))
    delay_steps = round(2.0 * sim.steps_per_day)
    for _ in range(delay_steps - 1):
        immune.lymph_node_and_inducer(sim)
        sim.steps += 1
    assert sum(sim.circulating.values()) == 0.0
    sim.steps += 1
    immune.lymph_node_and_inducer(sim)
    ln = sim.spec.immune.lymph_node
    assert sim.circulating["th0"] > 0.99 * ln.cd4_per_mature_dc
    assert sim.circulating["tc0"] > 0.99 * ln.cd8_per_mature_dc


def test_emigrating_mature_dcs_reach_the_lymph_node_and_come_back_primed():
    sim = small(
        "immune.lymph_node.priming_delay_days=1.0",
        "immune.types.dc_mature.lifetime_h=1000",
        days=4,
        events=[fix("tnfa", 50.0), fix("ccl20", 100.0)],
    )
    place(sim, "dc_mature", dermis_voxels(sim)[::7][:20])
    for _ in range(round(0.9 * sim.steps_per_day)):
        sim.step()
    assert sim.lymph_node_dc_arrivals > 0
    assert count(sim, "th0") + count(sim, "tc0") == 0  # still being primed
    for _ in range(round(1.5 * sim.steps_per_day)):
        sim.step()
    assert count(sim, "th0") + count(sim, "tc0") + count(sim, "th17") + count(sim, "th1") > 0


# ------------------------------------------------------------------------------ invariants
def test_mobile_layer_respects_capacity_and_regions_over_a_run():
    sim = small(days=2, events=[fix("cxcl8", 500.0), fix("tnfa", 30.0), fix("il17a", 10.0)])
    for _ in range(240):
        sim.step()
        table = sim.state.immune
        rows = table.rows()
        occupancy = np.bincount(table.voxel[rows], minlength=sim.layout.n_voxels)
        assert np.all(occupancy <= immune.capacity(sim))
        kind = immune.walker_kind(table.type[rows])
        assert np.all(sim.allowed[kind, table.voxel[rows]] == 1)
    assert count(sim, "neutrophil") + count(sim, "neutrophil_apoptotic") > 0
