"""Keratinocytes: cell cycle, division, column shoving, maturation, cornification, shedding.

The model (docs/model.md has the equations):

- Each lateral column holds ``basal_cells_per_column`` basal slots on the basement membrane and
  a stack of suprabasal cells above them, each with its own height; the stratum corneum is a
  stack of corneocytes on top of the last viable cell.
- Cycling cells (stem, transit-amplifying) leave G1/G0 at the rate of the behaviour
  ``proliferation`` (1/h, per-step probability ``1 − exp(−r·dt)``) and then divide after a fixed
  S/G2/M phase of ``cycle_fixed_phase_h``. Stem cells are slow-cycling at rest: the base part of
  their rate is divided by ``stem_quiescence_factor`` (cytokine-driven increases apply in full);
  likewise a cell born into G0 (probability ``g0_probability`` per daughter) has its base rate
  divided by ``g0_factor`` until it divides.
  Stem cells divide without limit (daughter: a TA cell with ``ta_divisions``); a TA cell's
  daughters have one division less; with none left the cell is post-mitotic ("committed").
- A basal division places a proliferative daughter in a free basal slot of its own column or
  one within two lateral steps (nearest first); failing that, it takes the slot of a committed
  basal cell there (chosen at random), which delaminates (crowding); failing that, the daughter goes
  suprabasal (column shoving: the stack above moves up). A daughter that leaves the basal layer
  keeps cycling with the probability of the behaviour ``suprabasal_proliferation`` (0 in
  health: mitoses are basal), else it becomes spinous. Committed basal cells also delaminate at
  rate ``1/committed_delamination_time_h``; basal cells migrate into free slots nearby.
- Suprabasal cells mature (spinous for ``spinous_duration_days``, granular for
  ``granular_duration_days``, both divided by the behaviour ``differentiation``); spinous cells
  grow from the basal to the spinous height. At the end of the spinous stage a cell becomes
  granular, or with the probability of ``parakeratosis`` skips that stage and cornifies keeping
  its nucleus. The top viable cell of a column cornifies when mature; its corneocyte spreads over
  its column and the lateral neighbours and is shed from the top after
  ``stratum_corneum_transit_days`` (divided by the behaviour ``shedding``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mscabm import _kernels
from mscabm.random import EntityKind, Purpose
from mscabm.vocab import TISSUE_CODES, CellType, KeratinocyteState

if TYPE_CHECKING:  # pragma: no cover
    from mscabm.engine import Simulation

KS = KeratinocyteState
CELL = EntityKind.CELL


def cycle_and_divide(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> None:
    """Advance the cell cycle of cycling keratinocytes and carry out divisions.

    Parameters
    ----------
    sim
        The simulation (state, parameters, random stream, clock).
    rows
        Living keratinocyte rows, in the order of ``behaviour``.
    behaviour
        Behaviour matrix of those rows (columns as in ``sim.rules.behaviour_names``).
    """
    kc, params, step = sim.state.kc, sim.spec.keratinocyte, sim.steps
    dt_h = sim.dt_min / 60.0
    state = kc.state[rows]
    cycling = (state == KS.STEM) | (state == KS.TA)
    in_fixed = kc.in_fixed_phase[rows] & cycling
    # cells already in S/G2/M advance; those that finish divide
    kc.fixed_phase_left_h[rows[in_fixed]] -= dt_h
    dividing = rows[in_fixed & (kc.fixed_phase_left_h[rows] <= 1e-9)]
    # cells waiting in G1/G0 leave it at the proliferation rate
    waiting = cycling & ~in_fixed
    rate = behaviour[waiting, sim.rules.behaviour_index("proliferation")]
    # stem cells are slow-cycling at rest: their unstimulated rate is divided by the factor
    base = sim.rules.base[CellType.KERATINOCYTE, sim.rules.behaviour_index("proliferation")]
    waiting_rows = rows[waiting]
    slowdown = np.where(kc.stem[waiting_rows], params.stem_quiescence_factor, 1.0)
    slowdown = np.where(kc.in_g0[waiting_rows], slowdown * params.g0_factor, slowdown)
    rate = rate - (1.0 - 1.0 / slowdown) * base
    draw = sim.random_stream.uniform(step, Purpose.CELL_CYCLE, CELL, kc.id[rows[waiting]])
    entering = rows[waiting][draw < -np.expm1(-rate * dt_h)]
    kc.in_fixed_phase[entering] = True
    kc.fixed_phase_left_h[entering] = params.cycle_fixed_phase_h
    if len(dividing):
        # probability that a suprabasal daughter keeps cycling, by the mother's row
        supra_prob = np.zeros(kc.capacity)
        supra_prob[rows] = behaviour[:, sim.rules.behaviour_index("suprabasal_proliferation")]
        _divide(sim, dividing, supra_prob)


def _bottom_keys(sim: Simulation) -> np.ndarray:
    kc = sim.state.kc
    bottom = np.zeros(sim.layout.n_columns)
    supra = kc.rows()[~kc.basal[kc.rows()]]
    if len(supra):
        np.minimum.at(bottom, kc.column[supra], kc.stack_key[supra])
    return bottom


def _divide(sim: Simulation, dividing: np.ndarray, supra_prob: np.ndarray) -> None:
    kc, params, step, layout = sim.state.kc, sim.spec.keratinocyte, sim.steps, sim.layout
    order = dividing[
        sim.random_stream.permutation(step, Purpose.DIVISION_PLACEMENT, CELL, kc.id[dividing])
    ]
    alive = kc.rows()
    basal_rows = alive[kc.basal[alive]]
    basal_count = np.bincount(kc.column[basal_rows], minlength=layout.n_columns)
    # committed basal cells of each column, by the step they committed, then by id
    waiting = basal_rows[kc.state[basal_rows] == KS.COMMITTED]
    waiting = waiting[np.lexsort((kc.id[waiting], kc.committed_step[waiting], kc.column[waiting]))]
    committed: dict[int, list[int]] = {}
    for row, column in zip(waiting.tolist(), kc.column[waiting].tolist(), strict=True):
        committed.setdefault(column, []).append(row)
    bottom = _bottom_keys(sim)
    draws = sim.random_stream.uniforms(step, Purpose.FATE, CELL, kc.id[order], 4)
    # each division adds one cell: the daughters get the next ids in turn
    daughter_ids = np.arange(kc.next_id, kc.next_id + len(order), dtype=np.uint64)
    speeds = _maturation_speeds(sim, daughter_ids).tolist()
    intervals, suprabasal_flags = [], []

    def push_to_bottom(row: int, column: int) -> None:
        bottom[column] -= 1.0
        kc.basal[row] = False
        kc.column[row] = column
        kc.stack_key[row] = bottom[column]

    for position, row in enumerate(order.tolist()):
        column = int(kc.column[row])
        mother_basal = bool(kc.basal[row])
        intervals.append(step - int(kc.last_mitosis_step[row]))
        suprabasal_flags.append(not mother_basal)
        kc.last_mitosis_step[row] = step
        kc.in_fixed_phase[row] = False
        kc.in_g0[row] = draws[position, 2] < params.g0_probability
        kc.fixed_phase_left_h[row] = 0.0
        if kc.stem[row]:
            daughter_divisions = params.ta_divisions
        else:
            daughter_divisions = int(kc.divisions_left[row]) - 1
            kc.divisions_left[row] = daughter_divisions
        daughter_cycles = daughter_divisions > 0
        daughter = int(
            kc.add(
                1,
                state=KS.TA if daughter_cycles else KS.COMMITTED,
                column=column,
                birth_step=step,
                last_mitosis_step=step,
                divisions_left=max(daughter_divisions, 0),
                height_um=params.basal_height_um,
                maturation_speed=speeds[position],
                in_g0=draws[position, 3] < params.g0_probability,
            )[0]
        )
        if not kc.stem[row] and not daughter_cycles:  # the mother is post-mitotic too
            if mother_basal:
                kc.state[row] = KS.COMMITTED
                kc.committed_step[row] = step
                committed.setdefault(column, []).append(row)
            else:
                kc.state[row] = KS.SPINOUS
        if not mother_basal:  # suprabasal division: the daughter goes right above its mother
            kc.basal[daughter] = False
            kc.stack_key[daughter] = kc.stack_key[row] + 0.5
            kc.maturation[daughter] = kc.maturation[row]  # sisters share their stage
            kc.maturation_speed[daughter] = kc.maturation_speed[row]
            if not daughter_cycles:
                kc.state[daughter] = KS.SPINOUS
            continue
        placed = False
        if daughter_cycles:
            candidates = list(dict.fromkeys(layout.reach[column].tolist()))
            free = [c for c in candidates if basal_count[c] < params.basal_cells_per_column]
            if free:
                target = min(free, key=lambda c: (basal_count[c], candidates.index(c)))
                kc.basal[daughter] = True
                kc.column[daughter] = target
                basal_count[target] += 1
                placed = True
            else:
                with_committed = [c for c in candidates if committed.get(c)]
                if with_committed:
                    target = with_committed[0]
                    # crowding pushes out one of the committed cells there, at random
                    waiting_here = committed[target]
                    displaced = waiting_here.pop(int(draws[position, 1] * len(waiting_here)))
                    kc.state[displaced] = KS.SPINOUS
                    push_to_bottom(displaced, target)
                    kc.basal[daughter] = True
                    kc.column[daughter] = target
                    placed = True
        if not placed:  # column shoving: the daughter enters the bottom of the suprabasal stack
            push_to_bottom(daughter, column)
            keeps_cycling = daughter_cycles and draws[position, 0] < supra_prob[row]
            if not keeps_cycling:
                kc.state[daughter] = KS.SPINOUS
    log = sim.state.events
    log.division_step.append(np.full(len(order), step, dtype=np.int64))
    log.division_interval_steps.append(np.array(intervals, dtype=np.int64))
    log.division_suprabasal.append(np.array(suprabasal_flags, dtype=bool))


def _maturation_speeds(sim: Simulation, cell_ids: np.ndarray) -> np.ndarray:
    """Individual maturation speed factors (lognormal, mean 1) of new cells, by id."""
    cv = sim.spec.keratinocyte.maturation_cv
    return sim.random_stream.lognormal(sim.steps, Purpose.DIFFERENTIATION, CELL, cell_ids, 1.0, cv)


def delaminate(sim: Simulation) -> None:
    """Committed basal cells leave the basal layer at rate ``1/committed_delamination_time_h``."""
    kc, params, step = sim.state.kc, sim.spec.keratinocyte, sim.steps
    alive = kc.rows()
    waiting = alive[kc.basal[alive] & (kc.state[alive] == KS.COMMITTED)]
    if not len(waiting):
        return
    probability = -np.expm1(-(sim.dt_min / 60.0) / params.committed_delamination_time_h)
    leaving = waiting[
        sim.random_stream.uniform(step, Purpose.FATE, CELL, kc.id[waiting], 2) < probability
    ]
    if not len(leaving):
        return
    leaving = leaving[np.argsort(kc.id[leaving], kind="stable")]
    bottom = _bottom_keys(sim)
    for row in leaving.tolist():
        column = int(kc.column[row])
        bottom[column] -= 1.0
        kc.basal[row] = False
        kc.stack_key[row] = bottom[column]
        kc.state[row] = KS.SPINOUS


def mature(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> None:
    """Advance maturation of spinous and granular cells; decide granular vs parakeratotic.

    Parameters
    ----------
    sim
        The simulation.
    rows
        Living keratinocyte rows, in the order of ``behaviour``.
    behaviour
        Behaviour matrix of those rows.
    """
    kc, params, step = sim.state.kc, sim.spec.keratinocyte, sim.steps
    dt_days = sim.dt_min / 1440.0
    state = kc.state[rows]
    speed = behaviour[:, sim.rules.behaviour_index("differentiation")] * kc.maturation_speed[rows]
    # suprabasal TA cells are spinous-stage cells that still divide: they mature too, and stop
    # cycling when they reach the granular stage
    parakeratotic = kc.parakeratotic[rows]  # done maturing: cornify as soon as they are on top
    spinous = ((state == KS.SPINOUS) | ((state == KS.TA) & ~kc.basal[rows])) & ~parakeratotic
    granular = state == KS.GRANULAR
    maturation = kc.maturation[rows]
    maturation = np.where(
        spinous, maturation + dt_days * speed / params.spinous_duration_days, maturation
    )
    maturation = np.where(
        granular, maturation + dt_days * speed / params.granular_duration_days, maturation
    )
    finishing = spinous & (maturation >= 1.0)
    if np.any(finishing):
        parakeratosis = behaviour[finishing, sim.rules.behaviour_index("parakeratosis")]
        draw = sim.random_stream.uniform(step, Purpose.PARAKERATOSIS, CELL, kc.id[rows[finishing]])
        skips = draw < parakeratosis
        finishing_rows = rows[finishing]
        kc.state[finishing_rows] = KS.GRANULAR
        kc.in_fixed_phase[finishing_rows] = False
        kc.parakeratotic[finishing_rows[skips]] = True
        # a parakeratotic cell keeps its nucleus and cornifies without a granular stage
        kc.state[finishing_rows[skips]] = KS.SPINOUS
        index = np.flatnonzero(finishing)
        maturation[index[skips]] = 2.0
        sim.state.events.production_step.append(np.full(len(finishing_rows), step, dtype=np.int64))
    kc.maturation[rows] = maturation
    state = kc.state[rows]
    height = kc.height_um[rows]
    height = np.where(
        (state == KS.SPINOUS) | ((state == KS.TA) & ~kc.basal[rows]),
        params.basal_height_um
        + (params.spinous_height_um - params.basal_height_um) * np.minimum(maturation, 1.0),
        height,
    )
    height = np.where(state == KS.GRANULAR, params.granular_height_um, height)
    basal_sized = kc.basal[rows] | (state == KS.COMMITTED) | (state == KS.STEM)
    height = np.where(basal_sized, params.basal_height_um, height)
    kc.height_um[rows] = height


def cornify(sim: Simulation) -> None:
    """The top viable cell of each column cornifies once mature (repeated while any is ready).

    Round ``k`` (at most 64) takes the cells ``k`` below the top of every column whose top
    ``k + 1`` cells are all ready, in the order of their ids: one sort of the stacks serves
    all rounds (removing the top cells keeps the order of the others).
    """
    kc, params, step, layout = sim.state.kc, sim.spec.keratinocyte, sim.steps, sim.layout
    alive = kc.rows()
    supra = alive[~kc.basal[alive]]
    if not len(supra):
        return
    order, col_start = _kernels.stack_order(kc.column[supra], kc.stack_key[supra], layout.n_columns)
    sorted_rows = supra[order]
    # not-ready cells at or above each position of its column (top = last of the column)
    not_ready = (~(kc.maturation[sorted_rows] >= 2.0)).astype(np.int64)
    above = np.cumsum(not_ready[::-1])[::-1]
    column_end = np.repeat(col_start[1:], np.diff(col_start))
    above -= np.r_[above, 0][column_end]
    depth = column_end - 1 - np.arange(len(sorted_rows))
    taken = np.flatnonzero((above == 0) & (depth < 64))
    if not len(taken):
        return
    taken_rows, taken_depth = sorted_rows[taken], depth[taken]
    by_round = np.lexsort((kc.id[taken_rows], taken_depth))
    taken_rows, taken_depth = taken_rows[by_round], taken_depth[by_round]
    bounds = np.flatnonzero(np.r_[True, taken_depth[1:] != taken_depth[:-1], True])
    spread_columns = np.concatenate(
        [np.arange(layout.n_columns)[:, None], layout.neighbours], axis=1
    )
    n_spread = spread_columns.shape[1]
    share = 1.0 / n_spread
    sc = sim.state.sc
    for first, last in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        ready = taken_rows[first:last]
        columns = kc.column[ready]
        sc.add(
            len(ready) * n_spread,
            column=spread_columns[columns].ravel(),
            height_um=params.corneocyte_height_um * share,
            birth_step=np.repeat(kc.birth_step[ready], n_spread),
            entry_step=step,
            shed_after_days=np.repeat(
                sim.random_stream.lognormal(
                    step,
                    Purpose.SHEDDING,
                    CELL,
                    kc.id[ready],
                    params.stratum_corneum_transit_days,
                    0.2,
                ),
                n_spread,
            ),
            parakeratotic=np.repeat(kc.parakeratotic[ready], n_spread),
            primary=np.tile(np.arange(n_spread) == 0, len(ready)),
        )
        kc.remove(ready)


def shed(sim: Simulation, column_shedding_speed: np.ndarray) -> None:
    """Age corneocytes by their column's shedding speed; shed from the top (oldest first).

    Parameters
    ----------
    sim
        The simulation.
    column_shedding_speed
        ``(n_columns,)`` multiplier of desquamation speed per column.
    """
    sc, step = sim.state.sc, sim.steps
    rows = sc.rows()
    if not len(rows):
        return
    sc.sc_age_days[rows] += (sim.dt_min / 1440.0) * column_shedding_speed[sc.column[rows]]
    ready = sc.sc_age_days[rows] >= sc.shed_after_days[rows]
    if not np.any(ready):
        return
    # top first: within a column a corneocyte sheds only when all older ones (by entry step,
    # then id) have gone, i.e. when it is older than the column's oldest one not ready
    n_columns = sim.layout.n_columns
    waiting, candidates = rows[~ready], rows[ready]
    waiting_columns = sc.column[waiting]
    oldest_step = np.full(n_columns, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(oldest_step, waiting_columns, sc.entry_step[waiting])
    at_oldest = sc.entry_step[waiting] == oldest_step[waiting_columns]
    oldest_id = np.full(n_columns, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(oldest_id, waiting_columns[at_oldest], sc.id[waiting[at_oldest]])
    columns, entry = sc.column[candidates], sc.entry_step[candidates]
    goes = (entry < oldest_step[columns]) | (
        (entry == oldest_step[columns]) & (sc.id[candidates] < oldest_id[columns])
    )
    gone = candidates[goes]
    gone = gone[np.lexsort((sc.id[gone], sc.entry_step[gone], sc.column[gone]))]
    primary = gone[sc.primary[gone]]
    log = sim.state.events
    log.shed_step.append(np.full(len(primary), step, dtype=np.int64))
    log.shed_age_steps.append(step - sc.birth_step[primary])
    sc.remove(gone)


def spread_basal(sim: Simulation) -> None:
    """Basal cells migrate along the basement membrane into free basal slots.

    A column with a free basal slot takes one non-stem basal cell from a lateral neighbour
    whose basal slots are all filled (columns visited in a hash permutation, each in at most
    one move per step), so free slots spread out and the next division nearby fills them.
    """
    kc, params, layout, step = sim.state.kc, sim.spec.keratinocyte, sim.layout, sim.steps
    alive = kc.rows()
    basal = alive[kc.basal[alive]]
    count = np.bincount(kc.column[basal], minlength=layout.n_columns)
    full = params.basal_cells_per_column
    receivers = np.flatnonzero(count < full)
    if not len(receivers):
        return
    order = sim.random_stream.permutation(
        step, Purpose.BASAL_MIGRATION, EntityKind.COLUMN, receivers
    )
    movable = basal[~kc.stem[basal]]
    busy = np.zeros(layout.n_columns, dtype=bool)
    for receiver in receivers[order].tolist():
        if busy[receiver]:
            continue
        donors = [int(n) for n in layout.neighbours[receiver] if count[n] == full and not busy[n]]
        for donor in donors:
            candidates = movable[kc.column[movable] == donor]
            if not len(candidates):
                continue
            moving = int(candidates[np.argmin(kc.id[candidates])])
            kc.column[moving] = receiver
            count[donor] -= 1
            count[receiver] += 1
            busy[donor] = busy[receiver] = True
            break


def relax_columns(sim: Simulation) -> np.ndarray:
    """Level neighbouring columns: tissue tension squeezes cells sideways from tall stacks.

    A column whose viable top stands more than ``column_height_tolerance_um`` above its lowest
    lateral neighbour hands that neighbour the suprabasal cell lying at the neighbour's top
    level (placed on top of the neighbour's stack). Columns are visited in a hash permutation
    and each takes part in at most one move per step.

    Returns
    -------
    numpy.ndarray of int64
        The columns a cell left or joined, ascending (empty if none: the stacks restacked
        here are current; otherwise ``restack(sim, columns)`` brings them up to date).
    """
    kc, params, layout, step = sim.state.kc, sim.spec.keratinocyte, sim.layout, sim.steps
    restack(sim)
    viable = sim.state.viable_top_um
    lowest = layout.neighbours[
        np.arange(layout.n_columns), np.argmin(viable[layout.neighbours], axis=1)
    ]
    excess = viable - viable[lowest]
    donors = np.flatnonzero(excess > params.column_height_tolerance_um)
    if not len(donors):
        return donors
    donors = donors[
        sim.random_stream.permutation(step, Purpose.COLUMN_LEVELLING, EntityKind.COLUMN, donors)
    ]
    alive = kc.rows()
    supra = alive[~kc.basal[alive]]
    top_key = np.full(layout.n_columns, -1.0)
    if len(supra):
        np.maximum.at(top_key, kc.column[supra], kc.stack_key[supra])
    busy = np.zeros(layout.n_columns, dtype=bool)
    moved = []
    for donor in donors.tolist():
        receiver = int(lowest[donor])
        if busy[donor] or busy[receiver]:
            continue
        in_donor = supra[kc.column[supra] == donor]
        level = viable[receiver]
        above = in_donor[kc.z_bottom_um[in_donor] + 0.5 * kc.height_um[in_donor] >= level]
        if not len(above):
            continue
        moving = int(above[np.argmin(kc.z_bottom_um[above])])
        top_key[receiver] += 1.0
        kc.column[moving] = receiver
        kc.stack_key[moving] = top_key[receiver]
        busy[donor] = busy[receiver] = True
        moved += [donor, receiver]
    return np.array(sorted(moved), dtype=np.int64)


def restack(sim: Simulation, columns: np.ndarray | None = None) -> None:
    """Column shoving: renumber each suprabasal stack and recompute every cell's height position.

    Parameters
    ----------
    sim
        The simulation.
    columns
        Restack only these columns (their cells moved since the last full restack; the
        corneum is unchanged): the other columns' keys and heights are current.
    """
    if columns is not None:
        _restack_columns(sim, columns)
        return
    kc, layout = sim.state.kc, sim.layout
    alive = kc.rows()
    basal = alive[kc.basal[alive]]
    supra = alive[~kc.basal[alive]]
    column_top = _stack(sim, basal, supra)
    sim.state.viable_top_um = np.ascontiguousarray(column_top)
    sc = sim.state.sc
    sc_rows = sc.rows()
    sim.state.sc_height_um = np.bincount(
        sc.column[sc_rows], weights=sc.height_um[sc_rows], minlength=layout.n_columns
    )
    sim.state.sc_parakeratotic_um = np.bincount(
        sc.column[sc_rows],
        weights=sc.height_um[sc_rows] * sc.parakeratotic[sc_rows],
        minlength=layout.n_columns,
    )


def _stack(sim: Simulation, basal: np.ndarray, supra: np.ndarray) -> np.ndarray:
    """Stack the given basal and suprabasal cells; return the viable top of every column.

    Basal cells sit on the membrane and suprabasal cells above them in ``stack_key`` order;
    a column without cells gets the membrane height.
    """
    kc, params, layout = sim.state.kc, sim.spec.keratinocyte, sim.layout
    kc.z_bottom_um[basal] = layout.bm_height_um[kc.column[basal]]
    base = layout.bm_height_um + params.basal_height_um
    if len(supra):
        order, col_start = _kernels.stack_order(
            kc.column[supra], kc.stack_key[supra], layout.n_columns
        )
        sorted_rows = np.ascontiguousarray(supra[order])
        counts = np.diff(col_start)
        kc.stack_key[sorted_rows] = (
            np.arange(len(sorted_rows)) - np.repeat(col_start[:-1], counts)
        ).astype(float)
        z_bottom, column_top = _kernels.stack_columns(
            col_start, sorted_rows, np.ascontiguousarray(kc.height_um), base
        )
        kc.z_bottom_um[sorted_rows] = z_bottom[sorted_rows]
    else:
        column_top = base.copy()
    basal_count = np.bincount(kc.column[basal], minlength=layout.n_columns)
    supra_count = np.bincount(kc.column[supra], minlength=layout.n_columns)
    empty = (basal_count == 0) & (supra_count == 0)
    column_top = np.where(empty, layout.bm_height_um, column_top)
    return column_top


def _restack_columns(sim: Simulation, columns: np.ndarray) -> None:
    """:func:`restack` of some columns (the same arithmetic on their cells)."""
    kc, layout = sim.state.kc, sim.layout
    selected = np.zeros(layout.n_columns, dtype=bool)
    selected[columns] = True
    alive = kc.rows()
    here = alive[selected[kc.column[alive]]]
    basal = here[kc.basal[here]]
    supra = here[~kc.basal[here]]
    column_top = _stack(sim, basal, supra)
    viable_top = sim.state.viable_top_um.copy()
    viable_top[selected] = column_top[selected]
    sim.state.viable_top_um = viable_top


_SUPRA_CODE = {
    KS.TA: TISSUE_CODES["suprabasal_ta"],
    KS.COMMITTED: TISSUE_CODES["spinous"],
    KS.SPINOUS: TISSUE_CODES["spinous"],
    KS.GRANULAR: TISSUE_CODES["granular"],
    KS.STEM: TISSUE_CODES["suprabasal_ta"],
}
_SUPRA_LOOKUP = np.zeros(256, dtype=np.uint8)  # tissue code of a suprabasal cell by state
for _state, _code in _SUPRA_CODE.items():
    _SUPRA_LOOKUP[_state] = _code
_SUPRA_LOOKUP.flags.writeable = False


def rasterize(sim: Simulation) -> np.ndarray:
    """Paint the tissue layer (uint8 codes, raveled) from columns, stacks and the corneum.

    A voxel is dermis below the basement membrane, basal where its centre lies in the basal
    layer (below the column's viable top), corneum from the viable top to the top of the
    corneum, air elsewhere; suprabasal cells are painted over, then the capillaries.
    """
    kc, params, layout = sim.state.kc, sim.spec.keratinocyte, sim.layout
    nz, n_columns, voxel = layout.nz, layout.n_columns, layout.voxel_um
    centre = (np.arange(nz) + 0.5) * voxel
    bm = layout.bm_height_um
    top = sim.state.viable_top_um
    sc_top = top + sim.state.sc_height_um
    alive = kc.rows()
    basal = alive[kc.basal[alive]]
    basal_code = np.zeros(n_columns, dtype=np.uint8)
    for state, name in (
        (KS.COMMITTED, "basal_committed"),
        (KS.TA, "basal_ta"),
        (KS.STEM, "basal_stem"),
    ):
        these = basal[kc.state[basal] == state]
        basal_code[kc.column[these]] = TISSUE_CODES[name]
    para = sim.state.sc_parakeratotic_um > 0.5 * np.maximum(sim.state.sc_height_um, 1e-300)
    sc_code = np.where(
        para, TISSUE_CODES["parakeratotic_corneum"], TISSUE_CODES["stratum_corneum"]
    ).astype(np.uint8)
    # Each column, bottom to top: dermis, basal, air, corneum, air. The layers end at the first
    # voxel whose centre is not below the bound (the number of centres below it).
    dermis_end = np.searchsorted(centre, bm)
    basal_end = np.searchsorted(centre, np.minimum(bm + params.basal_height_um, top))
    sc_start = np.maximum(np.searchsorted(centre, top), basal_end)
    sc_end = np.maximum(np.searchsorted(centre, sc_top), sc_start)
    basal_end = np.maximum(basal_end, dermis_end)
    ends = np.stack([dermis_end, basal_end, sc_start, sc_end, np.full(n_columns, nz)], axis=1)
    lengths = np.diff(ends, axis=1, prepend=0).ravel()
    codes_by_layer = np.zeros((n_columns, 5), dtype=np.uint8)
    codes_by_layer[:, 0] = TISSUE_CODES["dermis"]
    codes_by_layer[:, 1] = basal_code
    codes_by_layer[:, 3] = sc_code
    by_column = np.repeat(codes_by_layer.ravel(), lengths).reshape(n_columns, nz)
    tissue = np.ascontiguousarray(by_column.T).ravel()
    supra = alive[~kc.basal[alive]]
    if len(supra):
        order, col_start = _kernels.stack_order(kc.column[supra], kc.stack_key[supra], n_columns)
        codes = np.zeros(kc.capacity, dtype=np.uint8)
        codes[supra] = _SUPRA_LOOKUP[kc.state[supra]]
        owner = np.full(nz * n_columns, -1, dtype=np.int64)
        outside = _kernels.rasterize_columns(
            col_start,
            np.ascontiguousarray(supra[order]),
            np.ascontiguousarray(kc.z_bottom_um),
            np.ascontiguousarray(kc.height_um),
            codes,
            voxel,
            nz,
            tissue,
            owner,
        )
        if outside:
            sim.raise_outgrown()
    if np.any(sc_top > (nz - 1) * voxel):
        sim.raise_outgrown()
    tissue[layout.capillary_voxels] = TISSUE_CODES["capillary"]
    return tissue
