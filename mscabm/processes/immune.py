"""Immune cells on the mobile layer: recruitment, movement, fates, NETs, the lymph node.

All immune cells live in one population table (``sim.state.immune``, DESIGN.md principle 1);
their type code says what they are (:data:`mscabm.vocab.IMMUNE_TYPES`), and a change of state
(maturation, polarisation, apoptosis) is a change of type. Behaviours come from the rules
(:mod:`mscabm.defaults`), evaluated at the start of the step like every other cell's.

Mobile layer. Each voxel holds at most ``immune.capacity_<region>`` mobile cells (dermis,
viable epidermis, stratum corneum; none in air), beside its tissue cell, so a neutrophil can sit
in the epidermis without displacing a keratinocyte (DESIGN.md "Space"). A type may stand only
in its ``regions``.

One immune phase per step (:func:`advance`), in this order, every random number keyed by the
cell id or the capillary voxel (:mod:`mscabm.random`):

0. Cells whose voxel is no longer in one of their regions (the stratum corneum grew over them,
   or was shed above them) step into the nearest free allowed voxel within 3 steps, or are
   removed with the shed corneum when there is none; NETs in voxels that became air are shed.
1. **NETs form** from neutrophils whose NETosis delay has run out: the neutrophil dies, a NET
   takes its voxel, and the IL-17A it had captured (plus ``net_il17a_production_pg``, zero by
   default) is added to its voxel's IL-17A (mass conserved).
2. **Fates** of every other cell, resolved in this fixed order with one uniform each:
   NETosis commitment (neutrophils, rate ``netosis``; not while NETosis is blocked; the NET
   forms ``netosis_delay_h`` later and the cell stops moving), death (rate ``death``;
   neutrophils become ``neutrophil_apoptotic``, which are removed when they die in turn or are
   cleared), a change of type (total rate = sum of its ``become_<type>`` behaviours, the target
   drawn in proportion), emigration of dendritic cells standing in the dermis (rate
   ``emigration``; they reach the lymph node), proliferation (rate ``proliferation``; the
   daughter takes a free allowed voxel in the von Neumann neighbourhood, else no division).
   Rates become per-step probabilities ``1 − exp(−r·dt)``.
3. **Efferocytosis**: macrophages (any state), in a hash order, each clear at most one
   apoptotic neutrophil or NET in their voxel or its neighbours with probability
   ``1 − exp(−efferocytosis_per_h·dt)``; the count feeds the ``efferocytosis_recent`` signal
   (decaying with ``efferocytosis_memory_h``). NETs also decay by themselves
   (``net_half_life_h``, DNase-like).
4. **Recruitment** at each capillary site, with per-step probability
   ``1 − exp(−r·perfusion·dt)``: ``recruit_neutrophil``, ``recruit_monocyte`` (as
   ``macrophage_m0``), ``recruit_pdc``, ``recruit_dermal_dc``; recirculating memory T cells at the
   rate that keeps their resident density at healthy perfusion; effector T cells primed in the
   lymph node at ``recruit_primed_t`` per circulating cell. A new cell takes a free voxel among
   the capillary's voxel and its neighbours; depleted populations are not recruited.
5. **Movement**: ``motility`` (µm/min) gives ``speed·dt/voxel`` hops per step (the fraction by
   a draw); each hop goes to a von Neumann neighbour with the chemotactic bias ``chemotaxis`` up
   the type's ``chemotaxis_field`` (:func:`mscabm._kernels.mobile_walk`, hash-ordered).
6. **Lymph node and inducer**: primed cells whose delay has passed join the circulation, which
   decays with ``circulation_half_life_days``; the topical inducer decays with
   ``inducer_half_life_h`` and is re-applied once a day while it is on.

IL-17A capture by neutrophils happens right after the field step (:func:`capture_il17a`): a
neutrophil binds the share ``1 − exp(−il17a_capture·dt)`` of its voxel's IL-17A; several in one
voxel share it in proportion to their rates. What is taken from the field is what the cells
hold, so a NET can only return IL-17A that was made by others.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mscabm import _kernels
from mscabm.processes.transport import (
    REGION_CORNEUM,
    REGION_DERMIS,
    REGION_EPIDERMIS,
    secretion_columns,
)
from mscabm.random import EntityKind, Purpose
from mscabm.vocab import (
    CELL_TYPES,
    CONTACT_POPULATIONS,
    CONTACT_TYPES,
    FIRST_IMMUNE_CODE,
    IMMUNE_TYPES,
    POPULATIONS,
    TRANSITIONS,
    CellType,
)

if TYPE_CHECKING:  # pragma: no cover
    from mscabm.engine import Simulation
    from mscabm.scenario import Scenario

CELL = EntityKind.CELL
VOXEL = EntityKind.VOXEL
LN2 = float(np.log(2.0))
#: First id of immune cells: their ids never meet keratinocyte ids (all ids are unique).
IMMUNE_FIRST_ID = 1 << 48
N_IMMUNE = len(IMMUNE_TYPES)
_REGION_OF_NAME = {
    "dermis": REGION_DERMIS,
    "epidermis": REGION_EPIDERMIS,
    "corneum": REGION_CORNEUM,
}
_MACROPHAGES = tuple(int(CELL_TYPES.index(t)) for t in POPULATIONS["macrophages"])
_DENDRITIC_EMIGRANTS = (int(CellType.DC_MATURE), int(CellType.DC_TOLEROGENIC))
_PAPILLARY_DERMIS_UM = 40.0  # depth below the basement membrane where dermal DCs settle


def code(name: str) -> int:
    """Type code of a cell type name."""
    return CELL_TYPES.index(name)


def walker_kind(type_codes: np.ndarray) -> np.ndarray:
    """Row of the ``allowed`` table of each type code (immune types only)."""
    return (np.asarray(type_codes, dtype=np.int32) - FIRST_IMMUNE_CODE).astype(np.int32)


# ------------------------------------------------------------------------------------ layers
def allowed_by_region(scenario: Scenario) -> np.ndarray:
    """``(n_immune_types, 4)`` uint8: 1 where a type may stand in each region code."""
    region = np.arange(4)
    table = np.zeros((N_IMMUNE, region.size), dtype=np.uint8)
    for kind, name in enumerate(IMMUNE_TYPES):
        params = scenario.immune.types[name]
        codes = [_REGION_OF_NAME[r] for r in params.regions]
        table[kind] = np.isin(region, codes)
    return table


def allowed_table(sim: Simulation) -> np.ndarray:
    """``(n_immune_types, n_voxels)`` uint8: 1 where a type may stand (its regions)."""
    return np.take(allowed_by_region(sim.spec), sim.state.region, axis=1)


def capacity(sim: Simulation) -> np.ndarray:
    """Mobile cells each voxel may hold (int32), from its region."""
    immune = sim.spec.immune
    by_region = np.array(
        [0, immune.capacity_corneum, immune.capacity_epidermis, immune.capacity_dermis],
        dtype=np.int32,
    )
    return by_region[sim.state.region]


def occupancy(sim: Simulation) -> np.ndarray:
    """Mobile cells per voxel now (int32)."""
    table = sim.state.immune
    rows = table.rows()
    return np.bincount(table.voxel[rows], minlength=sim.layout.n_voxels).astype(np.int32)


# ------------------------------------------------------------------------------------ seeding
def seed_residents(sim: Simulation) -> None:
    """Place the resident populations of healthy skin (``resident_per_mm2`` per type).

    The number in the lattice is ``density × surface`` (the fraction decided by a draw); each
    cell takes a free voxel of its home (``dermis``, the top ``40 µm`` of the dermis for
    ``papillary_dermis``, or the viable ``epidermis``), drawn uniformly.
    """
    layout = sim.layout
    region = sim.state.region
    z = np.arange(layout.n_voxels) // layout.n_columns
    column = np.arange(layout.n_voxels) % layout.n_columns
    centre_um = (z + 0.5) * layout.voxel_um
    below_bm = layout.bm_height_um[column] - centre_um
    homes = {
        "dermis": region == REGION_DERMIS,
        "papillary_dermis": (region == REGION_DERMIS) & (below_bm <= _PAPILLARY_DERMIS_UM),
        "epidermis": region == REGION_EPIDERMIS,
    }
    room = capacity(sim) - occupancy(sim)
    area = layout.surface_mm2
    for kind, name in enumerate(IMMUNE_TYPES):
        params = sim.spec.immune.types[name]
        expected = params.resident_per_mm2 * area
        if expected <= 0 or name in sim.depleted_types:
            continue
        draws = sim.random_stream.uniforms(
            sim.steps, Purpose.IMMUNE_SEEDING, EntityKind.GLOBAL, [kind], 1 + int(expected) + 1
        )[0]
        n = int(expected) + int(draws[0] < expected - int(expected))
        candidates = np.flatnonzero(homes[params.home])
        placed = []
        for j in range(n):
            free = candidates[room[candidates] > 0]
            if len(free) == 0:
                break
            voxel = int(free[int(draws[1 + j] * len(free))])
            room[voxel] -= 1
            placed.append(voxel)
        if placed:
            _add_cells(sim, code(name), np.array(placed, dtype=np.int64))


def _add_cells(sim: Simulation, type_code: int, voxels: np.ndarray) -> np.ndarray:
    return sim.state.immune.add(
        len(voxels),
        type=type_code,
        voxel=voxels,
        birth_step=sim.steps,
        type_step=sim.steps,
        netosis_left_h=-1.0,
    )


# ------------------------------------------------------------------------------------ sensing
#: contact groups: each contact type alone, then each contact population
_CONTACT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    *((name, (name,)) for name in CONTACT_TYPES),
    *((population, POPULATIONS[population]) for population in CONTACT_POPULATIONS),
)


def _contact_membership() -> np.ndarray:
    """``(n_codes, n_groups)`` bool: which contact groups a cell type code counts in."""
    n_codes = FIRST_IMMUNE_CODE + len(IMMUNE_TYPES)
    membership = np.zeros((n_codes, len(_CONTACT_GROUPS)), dtype=bool)
    for group, (_, members) in enumerate(_CONTACT_GROUPS):
        for name in members:
            membership[code(name), group] = True
    return membership


_CONTACT_MEMBERSHIP = _contact_membership()


def contact_counts(sim: Simulation) -> np.ndarray:
    """Cells of each contact group and NETs per voxel, ``(n_voxels + 1, n_groups + 1)`` int64.

    Column ``n_groups`` counts NETs; row ``n_voxels`` (off the lattice, where missing
    neighbours point) is zero. Voxel-major, so one cell's neighbourhood is a few short rows.
    """
    table = sim.state.immune
    rows = table.rows()
    n = sim.layout.n_voxels
    membership = _CONTACT_MEMBERSHIP
    width = membership.shape[1] + 1
    cell_index, cell_group = np.nonzero(membership[table.type[rows]])
    nets = sim.state.nets
    keys = np.concatenate(
        [
            table.voxel[rows][cell_index] * width + cell_group,
            nets.voxel[nets.rows()] * width + (width - 1),
        ]
    )
    return np.bincount(keys, minlength=(n + 1) * width).reshape(n + 1, width)


#: The signal each column of :func:`contact_counts` feeds (``contact_<group>``, then NETs).
_CONTACT_SIGNALS: tuple[str, ...] = (
    *(f"contact_{name}" for name, _ in _CONTACT_GROUPS),
    "net_contact",
)


def contact_signal_columns(signal_names: Sequence[str]) -> np.ndarray:
    """Signal column of each column of :func:`contact_counts` (``contact_<group>``, NETs)."""
    return np.array([list(signal_names).index(name) for name in _CONTACT_SIGNALS], np.int64)


def contact_arguments(
    sim: Simulation, counts: np.ndarray | None = None, own_type: np.ndarray | None = None
) -> dict:
    """The contact keywords of :func:`mscabm._kernels.gather_signals` for this step.

    Counts over each voxel and its von Neumann neighbours; with ``own_type`` (int32 type
    codes) a cell does not count itself. ``counts`` is :func:`contact_counts` of the current
    state (computed when omitted).
    """
    return {
        "counts": contact_counts(sim) if counts is None else counts,
        "neighbours": sim.neighbour_table,
        "count_columns": sim.contact_signal_columns,
        "own_type": own_type,
        "membership": None if own_type is None else _CONTACT_MEMBERSHIP,
    }


def contact_signals(
    sim: Simulation,
    voxels: np.ndarray,
    own_type: np.ndarray | None,
    counts: np.ndarray | None = None,
) -> dict:
    """``net_contact`` and ``contact_<type or population>`` for cells at ``voxels``.

    The values :func:`sense` and the keratinocytes' signals read (see
    :func:`contact_arguments`), by signal name.
    """
    arguments = contact_arguments(
        sim, counts, None if own_type is None else np.asarray(own_type, dtype=np.int32)
    )
    width = len(_CONTACT_SIGNALS)  # a matrix of the contact signals only, in counts' order
    signals = _kernels.gather_signals(
        np.zeros((0, sim.layout.n_voxels)),
        np.asarray(voxels, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        width,
        **{**arguments, "count_columns": np.arange(width, dtype=np.int64)},
    )
    return {name: signals[:, column] for column, name in enumerate(_CONTACT_SIGNALS)}


def sense(sim: Simulation, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of living immune cells and their behaviour matrix.

    ``counts`` is :func:`contact_counts` of the current state (computed when omitted).
    """
    table = sim.state.immune
    rows = table.rows()
    rules = sim.rules
    if len(rows) == 0:
        signals = np.zeros((0, len(rules.signal_names)))
        return rows, rules.evaluate(signals, np.zeros(0, dtype=np.int32))
    voxels = table.voxel[rows]
    types = table.type[rows].astype(np.int32)
    signals = _kernels.gather_signals(
        sim.state.conc,
        voxels,
        sim.field_signal_columns,
        len(rules.signal_names),
        **contact_arguments(sim, counts, types),
    )
    in_tissue = sim.state.region[voxels] != 0
    signals[:, rules.signal_names.index("inducer")] = np.where(in_tissue, sim.inducer_level, 0.0)
    signals[:, rules.signal_names.index("efferocytosis_recent")] = table.efferocytosis_recent[rows]
    for blocked_type, signal in sim.blocked:
        signals[types == blocked_type, signal] = 0.0
    return rows, rules.evaluate(signals, types)


# ------------------------------------------------------------------------------------ sources
def field_mass_per_cell_pg(sim: Simulation) -> float:
    """Field mass (pg) one picogram made or held by an immune cell stands for: 1.

    Immune-cell densities are per volume, so unlike keratinocytes (one per voxel, see
    :mod:`mscabm.processes.transport`) no voxel-size factor applies.
    """
    return 1.0


def add_sources(sim: Simulation, source: np.ndarray, rows: np.ndarray, behaviour: np.ndarray):
    """Add immune-cell and NET secretion (pg/cell/day) to ``source`` (pg/mL/min), in place."""
    layout = sim.layout
    voxel_ml = layout.voxel_um**3 * 1e-12
    scale = field_mass_per_cell_pg(sim) / (1440.0 * voxel_ml)
    table = sim.state.immune
    fields, columns = secretion_columns(sim)
    # per occupied voxel the sum of its cells' rates (in cell order), scaled, added
    _kernels.scatter_rates(source, fields, behaviour, columns, table.voxel[rows], scale)
    if "ll37_dna" in sim.field_ids and "ll37_dna" not in sim.knocked_out:
        nets = sim.state.nets
        net_rows = nets.rows()
        if len(net_rows):
            index = sim.field_ids.index("ll37_dna")
            per_net = sim.spec.immune.net_ll37_dna_pg_per_day
            source[index] += (
                scale * per_net * np.bincount(nets.voxel[net_rows], minlength=layout.n_voxels)
            )


def capture_il17a(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> None:
    """Neutrophils bind IL-17A from their voxel after the field step (mass conserved)."""
    if "il17a" not in sim.field_ids or len(rows) == 0:
        return
    table = sim.state.immune
    alive = table.alive[rows] & (table.type[rows] == CellType.NEUTROPHIL)
    these = rows[alive]
    rate = behaviour[alive, sim.rules.behaviour_index("il17a_capture")]
    take = rate > 0
    these, rate = these[take], rate[take]
    if len(these) == 0:
        return
    dt_h = sim.dt_min / 60.0
    voxels = table.voxel[these]
    exponent = np.zeros(sim.layout.n_voxels)
    np.add.at(exponent, voxels, rate * dt_h)
    index = sim.field_ids.index("il17a")
    conc = sim.state.conc[index]
    taken_conc = conc * -np.expm1(-exponent)  # per voxel
    voxel_ml = sim.layout.voxel_um**3 * 1e-12
    share = rate * dt_h / exponent[voxels]
    table.il17a_bound_pg[these] += (
        taken_conc[voxels] * share * voxel_ml / field_mass_per_cell_pg(sim)
    )
    conc -= taken_conc


# ------------------------------------------------------------------------------------- phase
def advance(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> None:
    """The immune phase of one step (order in the module docstring)."""
    remove_displaced(sim)
    form_nets(sim)
    fates(sim, rows, behaviour)
    efferocytosis(sim)
    decay_nets(sim)
    recruit(sim)
    move(sim, rows, behaviour)
    lymph_node_and_inducer(sim)


def remove_displaced(sim: Simulation) -> None:
    """Cells whose voxel left their regions step aside, or go; NETs in air go.

    A cell whose voxel is no longer allowed to its type (the stratum corneum grew over it, or was
    shed above it) moves to the nearest free allowed voxel within 3 von Neumann steps (drawn
    uniformly among the nearest, cells in hash order); with none it is removed (shed with the
    stratum corneum). NETs in voxels that became air are shed.
    """
    table = sim.state.immune
    rows = table.rows()
    if len(rows):
        kind = walker_kind(table.type[rows])
        displaced = rows[sim.allowed[kind, table.voxel[rows]] == 0]
        if len(displaced):
            order = displaced[
                sim.random_stream.permutation(
                    sim.steps, Purpose.IMMUNE_PLACEMENT, CELL, table.id[displaced]
                )
            ]
            u = sim.random_stream.uniform(
                sim.steps, Purpose.IMMUNE_PLACEMENT, CELL, table.id[order], draw=1
            )
            room = capacity(sim) - occupancy(sim)
            gone = []
            for row, draw in zip(order.tolist(), u.tolist(), strict=True):
                source = int(table.voxel[row])
                target = _free_nearby(sim, source, int(table.type[row]), room, draw)
                if target < 0:
                    gone.append(row)
                    continue
                room[target] -= 1
                room[source] += 1
                table.voxel[row] = target
            table.remove(np.array(gone, dtype=np.int64))
    nets = sim.state.nets
    net_rows = nets.rows()
    if len(net_rows):
        nets.remove(net_rows[sim.state.region[nets.voxel[net_rows]] == 0])


def _release_il17a(sim: Simulation, voxel: int, cell_pg: float) -> None:
    if "il17a" not in sim.field_ids or cell_pg <= 0:
        return
    voxel_ml = sim.layout.voxel_um**3 * 1e-12
    index = sim.field_ids.index("il17a")
    sim.state.conc[index, voxel] += cell_pg * field_mass_per_cell_pg(sim) / voxel_ml
    sim.net_il17a_released_pg += cell_pg


def form_nets(sim: Simulation) -> None:
    """Committed neutrophils whose delay ran out die and leave a NET (IL-17A released)."""
    table = sim.state.immune
    rows = table.rows()
    committed = rows[(table.type[rows] == CellType.NEUTROPHIL) & (table.netosis_left_h[rows] >= 0)]
    if len(committed) == 0:
        return
    table.netosis_left_h[committed] -= sim.dt_min / 60.0
    due = committed[table.netosis_left_h[committed] <= 1e-9]
    extra = sim.spec.immune.net_il17a_production_pg
    for row in due.tolist():
        voxel = int(table.voxel[row])
        _release_il17a(sim, voxel, float(table.il17a_bound_pg[row]) + extra)
        sim.state.nets.add(1, voxel=voxel, birth_step=sim.steps)
        sim.net_events += 1
    table.remove(due)


def _still_alive(table, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows sensed at the start of the step that are still alive, and their positions.

    The positions among ``rows`` are the rows of the behaviour matrix to read (reading the
    few columns needed costs less than copying the matrix).
    """
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=np.int64)
    positions = np.flatnonzero(table.alive[rows])
    return rows[positions], positions


def fates(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> None:
    """NETosis commitment, death, type change, emigration, proliferation (fixed order)."""
    table = sim.state.immune
    rows, sensed = _still_alive(table, rows)
    if len(rows) == 0:
        return
    dt_h = sim.dt_min / 60.0
    names = sim.rules.behaviour_names
    column = {
        name: names.index(name) for name in ("death", "netosis", "emigration", "proliferation")
    }
    draws = sim.random_stream.uniforms(sim.steps, Purpose.IMMUNE_FATE, CELL, table.id[rows], 5)
    types = table.type[rows].astype(np.int64)
    done = np.zeros(len(rows), dtype=bool)

    def chance(name: str) -> np.ndarray:
        return -np.expm1(-np.maximum(behaviour[sensed, column[name]], 0.0) * dt_h)

    # 1. NETosis commitment (neutrophils not yet committed)
    neutrophil = (types == CellType.NEUTROPHIL) & (table.netosis_left_h[rows] < 0)
    if not sim.netosis_blocked:
        commit = neutrophil & (draws[:, 0] < chance("netosis"))
        table.netosis_left_h[rows[commit]] = sim.spec.immune.netosis_delay_h
        done |= commit
    done |= (types == CellType.NEUTROPHIL) & (table.netosis_left_h[rows] >= 0)
    # 2. death
    dies = ~done & (draws[:, 1] < chance("death"))
    to_apoptotic = dies & (types == CellType.NEUTROPHIL)
    table.type[rows[to_apoptotic]] = CellType.NEUTROPHIL_APOPTOTIC
    table.type_step[rows[to_apoptotic]] = sim.steps
    table.remove(rows[dies & ~to_apoptotic])
    done |= dies
    # 3. type change (every source type at once: targets padded with zero rates)
    target_columns, target_codes, n_targets = _transition_table(names)
    these = np.flatnonzero(~done & (n_targets[types] > 0))
    if len(these):
        source = types[these]
        rates = np.where(
            target_codes[source] >= 0,
            np.maximum(behaviour[sensed[these][:, None], target_columns[source]], 0.0),
            0.0,
        )
        total = rates.sum(axis=1)
        change = draws[these, 2] < -np.expm1(-total * dt_h)
        these, rates, total, source = these[change], rates[change], total[change], source[change]
    if len(these):
        pick_u = sim.random_stream.uniform(
            sim.steps, Purpose.IMMUNE_FATE, CELL, table.id[rows[these]], draw=5
        )
        cumulative = np.cumsum(rates, axis=1) / total[:, None]
        choice = np.minimum((cumulative <= pick_u[:, None]).sum(axis=1), n_targets[source] - 1)
        new_codes = target_codes[source, choice]
        changed_rows = rows[these]
        depleted = np.isin(new_codes, [code(t) for t in sim.depleted_types])
        table.type[changed_rows] = new_codes
        table.type_step[changed_rows] = sim.steps
        table.remove(changed_rows[depleted])
        done[these] = True
    # 4. emigration of dendritic cells standing in the dermis
    emigrant = ~done & np.isin(types, _DENDRITIC_EMIGRANTS)
    emigrant &= sim.state.region[table.voxel[rows]] == REGION_DERMIS
    leaves = emigrant & (draws[:, 3] < chance("emigration"))
    for row in rows[leaves].tolist():
        sim.lymph_node_arrivals(int(table.type[row]))
    table.remove(rows[leaves])
    done |= leaves
    # 5. proliferation
    divides = np.flatnonzero(~done & (draws[:, 4] < chance("proliferation")))
    if len(divides):
        _divide(sim, rows[divides])


@functools.cache
def _transition_table(behaviour_names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The :data:`TRANSITIONS` as arrays indexed by type code.

    Returns the ``become_<target>`` behaviour columns and the target codes of each source
    type (padded with column 0 and code -1) and its number of targets.
    """
    n_codes = FIRST_IMMUNE_CODE + len(IMMUNE_TYPES)
    width = max(len(targets) for targets in TRANSITIONS.values())
    columns = np.zeros((n_codes, width), dtype=np.int64)
    codes = np.full((n_codes, width), -1, dtype=np.int64)
    count = np.zeros(n_codes, dtype=np.int64)
    for source_name, targets in TRANSITIONS.items():
        row = code(source_name)
        count[row] = len(targets)
        for j, target in enumerate(targets):
            columns[row, j] = behaviour_names.index(f"become_{target}")
            codes[row, j] = code(target)
    for array in (columns, codes, count):
        array.flags.writeable = False
    return columns, codes, count


def _free_neighbour(
    sim: Simulation, voxel: int, type_code: int, room: np.ndarray, allowed: np.ndarray, u: float
) -> int:
    candidates = [voxel, *[int(v) for v in sim.neighbour_table[voxel] if v >= 0]]
    kind = type_code - FIRST_IMMUNE_CODE
    free = [v for v in candidates if room[v] > 0 and allowed[kind, v]]
    if not free:
        return -1
    return free[int(u * len(free))]


def _free_nearby(
    sim: Simulation, voxel: int, type_code: int, room: np.ndarray, u: float, radius: int = 3
) -> int:
    """A free allowed voxel at the smallest von Neumann distance ≤ ``radius`` (or -1)."""
    kind = type_code - FIRST_IMMUNE_CODE
    seen = {voxel}
    ring = [voxel]
    for _ in range(radius):
        nxt = []
        for v in ring:
            for n in sim.neighbour_table[v].tolist():
                if n >= 0 and n not in seen:
                    seen.add(n)
                    nxt.append(n)
        nxt.sort()
        free = [v for v in nxt if room[v] > 0 and sim.allowed[kind, v]]
        if free:
            return free[int(u * len(free))]
        ring = nxt
    return -1


def _divide(sim: Simulation, dividing: np.ndarray) -> None:
    table = sim.state.immune
    order = dividing[
        sim.random_stream.permutation(sim.steps, Purpose.IMMUNE_PLACEMENT, CELL, table.id[dividing])
    ]
    room = capacity(sim) - occupancy(sim)
    allowed = sim.allowed
    u = sim.random_stream.uniform(sim.steps, Purpose.IMMUNE_PLACEMENT, CELL, table.id[order])
    for row, draw in zip(order.tolist(), u.tolist(), strict=True):
        type_code = int(table.type[row])
        target = _free_neighbour(sim, int(table.voxel[row]), type_code, room, allowed, draw)
        if target < 0:
            continue
        room[target] -= 1
        _add_cells(sim, type_code, np.array([target], dtype=np.int64))


def efferocytosis(sim: Simulation) -> None:
    """Macrophages clear apoptotic neutrophils, then NETs, in their neighbourhood."""
    table = sim.state.immune
    rows = table.rows()
    decay = np.exp(-(sim.dt_min / 60.0) / sim.spec.immune.efferocytosis_memory_h)
    table.efferocytosis_recent[rows] *= decay
    macrophages = rows[np.isin(table.type[rows], _MACROPHAGES)]
    rate = sim.spec.immune.efferocytosis_per_h
    if len(macrophages) == 0 or rate <= 0:
        return
    apoptotic = rows[table.type[rows] == CellType.NEUTROPHIL_APOPTOTIC]
    nets = sim.state.nets
    net_rows = nets.rows()
    if len(apoptotic) == 0 and len(net_rows) == 0:
        return
    p = -np.expm1(-rate * sim.dt_min / 60.0)
    order = macrophages[
        sim.random_stream.permutation(sim.steps, Purpose.EFFEROCYTOSIS, CELL, table.id[macrophages])
    ]
    u = sim.random_stream.uniform(sim.steps, Purpose.EFFEROCYTOSIS, CELL, table.id[order])
    eating = order[u < p]  # in hash order; removals below touch only other rows
    if len(eating) == 0:
        return
    voxels = table.voxel[eating]
    neighbours = sim.neighbour_table[voxels]
    # only what lies within reach of an eating macrophage can be cleared this step
    reach = np.union1d(voxels, neighbours[neighbours >= 0])
    apoptotic = apoptotic[np.isin(table.voxel[apoptotic], reach)]
    net_rows = net_rows[np.isin(nets.voxel[net_rows], reach)]
    targets_by_voxel: dict[int, list[int]] = {}
    by_id = apoptotic[np.argsort(table.id[apoptotic], kind="stable")]
    for row, voxel in zip(by_id.tolist(), table.voxel[by_id].tolist(), strict=True):
        targets_by_voxel.setdefault(voxel, []).append(row)
    nets_by_voxel: dict[int, list[int]] = {}
    by_id = net_rows[np.argsort(nets.id[net_rows], kind="stable")]
    for row, voxel in zip(by_id.tolist(), nets.voxel[by_id].tolist(), strict=True):
        nets_by_voxel.setdefault(voxel, []).append(row)
    for row, voxel, near in zip(eating.tolist(), voxels.tolist(), neighbours.tolist(), strict=True):
        around = [voxel, *[v for v in near if v >= 0]]
        cleared = False
        for v in around:
            if targets_by_voxel.get(v):
                table.remove(np.array([targets_by_voxel[v].pop(0)]))
                cleared = True
                break
        if not cleared:
            for v in around:
                if nets_by_voxel.get(v):
                    nets.remove(np.array([nets_by_voxel[v].pop(0)]))
                    cleared = True
                    break
        if cleared:
            table.efferocytosis_recent[row] += 1.0


def decay_nets(sim: Simulation) -> None:
    """NETs are degraded (DNase-like) with ``net_half_life_h``."""
    nets = sim.state.nets
    rows = nets.rows()
    if len(rows) == 0:
        return
    p = -np.expm1(-LN2 / sim.spec.immune.net_half_life_h * sim.dt_min / 60.0)
    u = sim.random_stream.uniform(sim.steps, Purpose.NET_CLEARANCE, CELL, nets.id[rows])
    nets.remove(rows[u < p])


#: Recruitment channels: (capillary behaviour, type that enters)
_RECRUITED = (
    ("recruit_neutrophil", "neutrophil"),
    ("recruit_monocyte", "macrophage_m0"),
    ("recruit_pdc", "pdc"),
    ("recruit_dermal_dc", "dermal_dc"),
)


def recruit(sim: Simulation) -> None:
    """Entry of circulating cells at capillary sites (order of channels fixed)."""
    capillaries = sim.state.capillaries
    cap_rows = capillaries.rows()
    if len(cap_rows) == 0:
        return
    dt_h = sim.dt_min / 60.0
    behaviour = sim.capillary_behaviour
    perfusion = capillaries.dilation[cap_rows]
    names = sim.rules.behaviour_names
    channels: list[tuple[str, np.ndarray]] = []
    for behaviour_name, type_name in _RECRUITED:
        rate = behaviour[:, names.index(behaviour_name)] * perfusion
        channels.append((type_name, rate))
    n_sites = len(cap_rows)
    for type_name, section_rate in sim.memory_t_entry_per_h.items():
        channels.append((type_name, np.full(n_sites, section_rate / n_sites) * perfusion))
    primed = behaviour[:, names.index("recruit_primed_t")] * perfusion
    for type_name in sorted(sim.circulating):
        channels.append((type_name, primed * sim.circulating[type_name]))
    voxels = capillaries.voxel[cap_rows]
    draws = sim.random_stream.uniforms(
        sim.steps, Purpose.RECRUITMENT, VOXEL, voxels, 2 * len(channels)
    )
    room = capacity(sim) - occupancy(sim)
    allowed = sim.allowed
    for j, (type_name, rate) in enumerate(channels):
        if type_name in sim.depleted_types:
            continue
        enters = np.flatnonzero(draws[:, 2 * j] < -np.expm1(-np.maximum(rate, 0.0) * dt_h))
        for site in enters.tolist():
            target = _free_neighbour(
                sim, int(voxels[site]), code(type_name), room, allowed, draws[site, 2 * j + 1]
            )
            if target < 0:
                continue
            room[target] -= 1
            _add_cells(sim, code(type_name), np.array([target], dtype=np.int64))
            if type_name in sim.circulating:
                sim.circulating[type_name] = max(0.0, sim.circulating[type_name] - 1.0)


def move(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> None:
    """Hops of every living immune cell (speed from ``motility``, bias from ``chemotaxis``)."""
    table = sim.state.immune
    rows, sensed = _still_alive(table, rows)
    if len(rows) == 0:
        return
    speed = np.maximum(behaviour[sensed, sim.rules.behaviour_index("motility")], 0.0)
    expected_hops = speed * sim.dt_min / sim.layout.voxel_um
    u = sim.random_stream.uniform(sim.steps, Purpose.IMMUNE_HOPS, CELL, table.id[rows])
    hops = (np.floor(expected_hops) + (u < expected_hops - np.floor(expected_hops))).astype(
        np.int32
    )
    types = table.type[rows]
    hops[(types == CellType.NEUTROPHIL) & (table.netosis_left_h[rows] >= 0)] = 0
    bias = np.clip(behaviour[sensed, sim.rules.behaviour_index("chemotaxis")], 0.0, 1.0)
    follow = sim.chemotaxis_field_row[types - FIRST_IMMUNE_CODE]
    moving = hops > 0
    if not np.any(moving):
        return
    rows, hops, bias, follow = rows[moving], hops[moving], bias[moving], follow[moving]
    new_voxel, _ = _kernels.mobile_walk(
        np.ascontiguousarray(table.voxel[rows]),
        np.ascontiguousarray(table.id[rows]),
        hops,
        np.ascontiguousarray(bias),
        np.ascontiguousarray(follow, dtype=np.int32),
        walker_kind(table.type[rows]),
        sim.state.conc,
        sim.allowed,
        occupancy(sim),
        capacity(sim),
        sim.neighbour_table,
        sim.seed,
        sim.steps,
    )
    table.voxel[rows] = new_voxel


def lymph_node_and_inducer(sim: Simulation) -> None:
    """Primed cells join the circulation after their delay; circulation and inducer decay."""
    dt_days = sim.dt_min / 1440.0
    for _, type_name, count in sim.lymph_node_ready():
        if type_name not in sim.depleted_types:
            sim.circulating[type_name] = sim.circulating.get(type_name, 0.0) + count
    factor = np.exp(-LN2 * dt_days / sim.spec.immune.lymph_node.circulation_half_life_days)
    for type_name in sim.circulating:
        sim.circulating[type_name] *= float(factor)
    sim.inducer_level *= float(
        np.exp(-LN2 * sim.dt_min / 60.0 / sim.spec.immune.inducer_half_life_h)
    )
    if sim.inducer_dose > 0 and sim.steps >= sim.inducer_next_step:
        sim.inducer_level += sim.inducer_dose
        sim.inducer_next_step += sim.steps_per_day


def deplete(sim: Simulation, population: str) -> None:
    """Remove a population now; it is not recruited or made again until restored."""
    types = POPULATIONS[population]
    sim.depleted_types.update(types)
    table = sim.state.immune
    rows = table.rows()
    table.remove(rows[np.isin(table.type[rows], [code(t) for t in types])])
    for type_name in types:
        sim.circulating.pop(type_name, None)


def mobile_layer(sim: Simulation) -> np.ndarray:
    """uint8 ``/lattice/mobile``: per voxel the code of its highest-priority mobile occupant."""
    from mscabm.vocab import MOBILE_CODES, MOBILE_DISPLAY_PRIORITY

    layer = np.zeros(sim.layout.n_voxels, dtype=np.uint8)
    best = np.zeros(sim.layout.n_voxels, dtype=np.int64)
    table = sim.state.immune
    rows = table.rows()
    for name in IMMUNE_TYPES:
        these = rows[table.type[rows] == code(name)]
        if len(these) == 0:
            continue
        voxels = table.voxel[these]
        priority = MOBILE_DISPLAY_PRIORITY[name]
        better = best[voxels] < priority
        layer[voxels[better]] = MOBILE_CODES[name]
        best[voxels[better]] = priority
    return layer


def net_layer(sim: Simulation) -> np.ndarray:
    """uint8 ``/lattice/net``: 1 where a NET lies."""
    layer = np.zeros(sim.layout.n_voxels, dtype=np.uint8)
    nets = sim.state.nets
    layer[nets.voxel[nets.rows()]] = 1
    return layer
