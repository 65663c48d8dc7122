"""Independent NumPy twins of the compiled kernels (DESIGN.md, principle 3).

Each function has the name and signature of its counterpart in :mod:`mscabm._kernels` but is
written with its own loop structure in vectorised NumPy; it never calls compiled code. Tests
compare the two: integer, lattice and random-number kernels exactly, floating-point kernels to a
norm-wise relative 1e-12.
"""

from __future__ import annotations

import numpy as np

#: The field kernels' floor on a converged squared residual (``MG_RESIDUAL_SQ_FLOOR``).
RESIDUAL_SQ_FLOOR = 1e-300

# ------------------------------------------------------------------------------------------ rng

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_MULTIPLIER_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_MULTIPLIER_2 = np.uint64(0x94D049BB133111EB)


def _splitmix64_mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, elementwise on a uint64 array (wraps modulo 2**64)."""
    z = z + _GOLDEN_GAMMA
    z = (z ^ (z >> np.uint64(30))) * _MIX_MULTIPLIER_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_MULTIPLIER_2
    return z ^ (z >> np.uint64(31))


def _key_chain(seed, step, purpose, kind, entity_ids, draws) -> np.ndarray:
    """Keys for ids (n,) against draw indices broadcast as (n, d); arrays all the way."""
    word = np.array([int(seed)], dtype=np.uint64)
    key = _splitmix64_mix(word)
    key = _splitmix64_mix(key ^ np.array([int(step) % (1 << 64)], dtype=np.uint64))
    purpose_kind = (int(purpose) << 32) | int(kind)
    key = _splitmix64_mix(key ^ np.array([purpose_kind], dtype=np.uint64))
    per_entity = _splitmix64_mix(key ^ np.asarray(entity_ids, dtype=np.uint64))
    return _splitmix64_mix(per_entity[:, None] ^ np.asarray(draws, dtype=np.uint64)[None, :])


def hash_keys(seed, step, purpose, kind, entity_ids, draw=0) -> np.ndarray:
    """Twin of :func:`mscabm._kernels.hash_keys`."""
    return _key_chain(seed, step, purpose, kind, entity_ids, [draw])[:, 0]


def uniform_matrix(seed, step, purpose, kind, entity_ids, n_draws, first_draw=0) -> np.ndarray:
    """Twin of :func:`mscabm._kernels.uniform_matrix`."""
    draws = np.arange(first_draw, first_draw + n_draws, dtype=np.uint64)
    keys = _key_chain(seed, step, purpose, kind, entity_ids, draws)
    return np.ldexp((keys >> np.uint64(11)).astype(np.float64), -53)


def uniform(seed, step, purpose, kind, entity_ids, draw=0) -> np.ndarray:
    """Twin of :func:`mscabm._kernels.uniform`."""
    keys = hash_keys(seed, step, purpose, kind, entity_ids, draw)
    return np.ldexp((keys >> np.uint64(11)).astype(np.float64), -53)


# ---------------------------------------------------------------------------------------- rules


def evaluate_rules(
    signals, cell_type, base, saturation_up, saturation_down, rule_type, rule_behaviour,
    rule_direction, rule_term_start, term_signal, term_half_max, term_hill_power,
) -> np.ndarray:  # fmt: skip
    """Twin of :func:`mscabm._kernels.evaluate_rules` (Hill terms through exp/log)."""
    cell_type = np.asarray(cell_type, dtype=np.int64)
    n_cells = cell_type.shape[0]
    base = np.asarray(base, dtype=np.float64)
    n_behaviours = base.shape[1]
    term_signal = np.asarray(term_signal, dtype=np.int64)
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim == 1:  # raveled
        width = signals.size // n_cells if n_cells else int(term_signal.max(initial=-1)) + 1
        signals = np.zeros((0, width)) if n_cells == 0 else signals.reshape(n_cells, width)
    rule_term_start = np.asarray(rule_term_start, dtype=np.int64)
    terms_per_rule = np.diff(rule_term_start)
    n_rules = terms_per_rule.shape[0]

    # Hill value of every (cell, term): 1 / (1 + exp(n (ln K - ln s))), 0 where s <= 0.
    level = signals[:, term_signal]
    positive = level > 0
    power = np.asarray(term_hill_power, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log_ratio = power * (np.log(term_half_max) - np.log(np.where(positive, level, 1.0)))
        log_ratio = np.where(power == 0, 0.0, log_ratio)
        term_value = np.where(positive, 1.0 / (1.0 + np.exp(log_ratio)), 0.0)

    # AND rules: multiply the p-th term of every rule that has one, for p = 0, 1, ...
    rule_value = np.ones((n_cells, n_rules))
    for p in range(int(terms_per_rule.max(initial=0))):
        has_term = terms_per_rule > p
        rule_value[:, has_term] *= term_value[:, rule_term_start[:-1][has_term] + p]

    # A rule acts on a cell only when the cell has the rule's type.
    acts = cell_type[:, None] == np.asarray(rule_type, dtype=np.int64)[None, :]
    keep = np.where(acts, 1.0 - rule_value, 1.0)
    rule_behaviour = np.asarray(rule_behaviour, dtype=np.int64)
    increases = np.asarray(rule_direction) > 0
    keep_up = np.ones((n_cells, n_behaviours))
    keep_down = np.ones((n_cells, n_behaviours))
    for behaviour in range(n_behaviours):
        mine = rule_behaviour == behaviour
        keep_up[:, behaviour] = keep[:, mine & increases].prod(axis=1)
        keep_down[:, behaviour] = keep[:, mine & ~increases].prod(axis=1)

    b0 = base[cell_type]
    raised = b0 + (np.asarray(saturation_up)[cell_type] - b0) * (1.0 - keep_up)
    return raised + (np.asarray(saturation_down)[cell_type] - raised) * (1.0 - keep_down)


# -------------------------------------------------------------------------------------- lattice


def gather_signals(
    conc, voxels, field_columns, n_signals, *, counts=None, neighbours=None, count_columns=None,
    own_type=None, membership=None,
) -> np.ndarray:
    """Twin of :func:`mscabm._kernels.gather_signals`: whole-array gathers."""
    signals = np.zeros((len(voxels), n_signals))
    signals[:, field_columns] = conc[:, voxels].T
    if counts is None:
        return signals
    off_lattice = counts.shape[0] - 1
    around = neighbours[voxels]
    around = np.where(around >= 0, around, off_lattice)
    total = counts[voxels] + counts[around].sum(axis=1)
    if own_type is not None:
        own = own_type >= 0
        total[np.flatnonzero(own)[:, None], np.arange(membership.shape[1])] -= membership[
            own_type[own]
        ]
    written = count_columns >= 0
    signals[:, count_columns[written]] = total[:, written]
    return signals


def scatter_rates(out, out_rows, values, value_columns, voxels, scale) -> None:
    """Twin of :func:`mscabm._kernels.scatter_rates`: one bincount per row."""
    occupied, where = np.unique(voxels, return_inverse=True)
    for row, column in zip(out_rows, value_columns, strict=True):
        made = np.bincount(where.ravel(), weights=values[:, column], minlength=len(occupied))
        out[row, occupied] += scale * made


def stack_order(column, key, n_columns) -> tuple[np.ndarray, np.ndarray]:
    """Twin of :func:`mscabm._kernels.stack_order` (``np.lexsort``)."""
    column = np.asarray(column, dtype=np.int64)
    rows = np.lexsort((np.asarray(key, dtype=np.float64), column)).astype(np.int64)
    col_start = np.zeros(n_columns + 1, dtype=np.int64)
    col_start[1:] = np.cumsum(np.bincount(column, minlength=n_columns))
    return rows, col_start


def stack_columns(col_start, rows, height_um, bm_height_um) -> tuple[np.ndarray, np.ndarray]:
    """Twin of :func:`mscabm._kernels.stack_columns`: layer by layer across all columns."""
    col_start = np.asarray(col_start, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    height_um = np.asarray(height_um, dtype=np.float64)
    depth = np.diff(col_start)
    z_bottom_um = np.zeros(height_um.shape[0])
    level_um = np.array(bm_height_um, dtype=np.float64, copy=True)
    for layer in range(int(depth.max(initial=0))):
        columns = np.flatnonzero(depth > layer)
        cells = rows[col_start[columns] + layer]
        z_bottom_um[cells] = level_um[columns]
        level_um[columns] = level_um[columns] + height_um[cells]
    return z_bottom_um, level_um


def rasterize_columns(
    col_start, rows, z_bottom_um, height_um, code, voxel_um, n_z, tissue, owner
) -> int:
    """Twin of :func:`mscabm._kernels.rasterize_columns`: a cells x layers coverage mask."""
    col_start = np.asarray(col_start, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    n_columns = col_start.shape[0] - 1
    column_of_entry = np.repeat(np.arange(n_columns), np.diff(col_start))
    bottom = np.asarray(z_bottom_um, dtype=np.float64)[rows]
    top = bottom + np.asarray(height_um, dtype=np.float64)[rows]
    centres = (np.arange(n_z, dtype=np.float64) + 0.5) * voxel_um
    covered = (centres[None, :] >= bottom[:, None]) & (centres[None, :] < top[:, None])
    entry, layer = np.nonzero(covered)
    voxel = layer * n_columns + column_of_entry[entry]
    tissue[voxel] = np.asarray(code)[rows[entry]]
    owner[voxel] = rows[entry]
    return int(np.count_nonzero(top > float(n_z) * voxel_um))


def move_with_exclusion(order, from_voxel, to_voxel, occupancy, capacity) -> np.ndarray:
    """Twin of :func:`mscabm._kernels.move_with_exclusion`: a plain Python loop over moves."""
    room = {}  # voxel -> free places, filled lazily
    source_list = [int(v) for v in from_voxel]
    target_list = [int(v) for v in to_voxel]
    accepted = np.zeros(len(target_list), dtype=np.uint8)
    for move in (int(q) for q in order):
        target = target_list[move]
        if target not in room:
            room[target] = int(capacity[target]) - int(occupancy[target])
        if room[target] <= 0:
            continue
        room[target] -= 1
        source = source_list[move]
        if source >= 0:
            room[source] = room.get(source, int(capacity[source]) - int(occupancy[source])) + 1
        accepted[move] = 1
    moved = np.flatnonzero(accepted)
    gains = np.bincount(np.asarray(to_voxel)[moved], minlength=occupancy.shape[0])
    sources = np.asarray(from_voxel)[moved]
    losses = np.bincount(sources[sources >= 0], minlength=occupancy.shape[0])
    occupancy += (gains - losses).astype(occupancy.dtype)
    return accepted


def neighbour_count(values, padded_index, offsets) -> np.ndarray:
    """Twin of :func:`mscabm._kernels.neighbour_count`: one gather of queries x offsets."""
    gathered = np.asarray(values)[
        np.asarray(padded_index, dtype=np.int64)[:, None]
        + np.asarray(offsets, dtype=np.int64)[None, :]
    ]
    return gathered.sum(axis=1, dtype=np.int64).astype(np.int32)


# --------------------------------------------------------------------------------------- fields
# Twins of the field-solver kernels: whole-array NumPy shifts over the padded raveled grid (the
# kernels loop over runs and lanes) with an interior mask built from the run table.


def _fields_interior_mask(padded_size: int, run_starts: np.ndarray, run_length: int) -> np.ndarray:
    """Boolean mask of the interior voxels of one padded raveled field."""
    mask = np.zeros(padded_size, dtype=bool)
    index = (np.asarray(run_starts, dtype=np.int64)[:, None] + np.arange(run_length)).ravel()
    mask[index] = True
    return mask


def _fields_shift(values: np.ndarray, offset: int) -> np.ndarray:
    """``out[..., v] = values[..., v + offset]`` (zero where ``v + offset`` leaves the array)."""
    out = np.zeros_like(values)
    if offset > 0:
        out[..., :-offset] = values[..., offset:]
    elif offset < 0:
        out[..., -offset:] = values[..., :offset]
    else:
        out[...] = values
    return out


def _fields_active_mask(active: np.ndarray | None, n_fields: int) -> np.ndarray:
    if active is None:
        return np.ones(n_fields, dtype=bool)
    return np.asarray(active) != 0


def field_operator_apply(
    x: np.ndarray,
    diagonal: np.ndarray,
    face_weight: np.ndarray,
    offsets: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy twin of :func:`mscabm._kernels.field_operator_apply`."""
    n_fields, padded_size = x.shape
    interior = _fields_interior_mask(padded_size, run_starts, run_length)
    use = _fields_active_mask(active, n_fields)
    applied = diagonal * x
    for axis, offset in enumerate(np.asarray(offsets).tolist()):
        weight = face_weight[:, axis, :]
        applied -= weight * _fields_shift(x, offset)
        applied -= _fields_shift(weight * x, -offset)
    if out is None:
        out = np.zeros_like(x)
    select = use[:, None] & interior[None, :]
    out[select] = applied[select]
    x_dot_ax = np.where(use, np.sum(np.where(select, x * applied, 0.0), axis=1), 0.0)
    return out, x_dot_ax


def field_dot(
    a: np.ndarray,
    b: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """NumPy twin of :func:`mscabm._kernels.field_dot`."""
    interior = _fields_interior_mask(a.shape[1], run_starts, run_length)
    use = _fields_active_mask(active, a.shape[0])
    return np.where(use, np.sum(a[:, interior] * b[:, interior], axis=1), 0.0)


def field_cg_update(
    x: np.ndarray,
    residual: np.ndarray,
    direction: np.ndarray,
    a_direction: np.ndarray,
    alpha: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """NumPy twin of :func:`mscabm._kernels.field_cg_update`."""
    interior = _fields_interior_mask(x.shape[1], run_starts, run_length)
    use = _fields_active_mask(active, x.shape[0])
    select = use[:, None] & interior[None, :]
    step_length = np.broadcast_to(np.asarray(alpha)[:, None], x.shape)
    x[select] += step_length[select] * direction[select]
    residual[select] -= step_length[select] * a_direction[select]
    return np.where(use, np.sum(np.where(select, residual * residual, 0.0), axis=1), 0.0)


def field_cg_direction(
    preconditioned: np.ndarray,
    direction: np.ndarray,
    beta: np.ndarray,
    run_starts: np.ndarray,
    run_length: int,
    active: np.ndarray | None = None,
) -> None:
    """NumPy twin of :func:`mscabm._kernels.field_cg_direction`."""
    interior = _fields_interior_mask(direction.shape[1], run_starts, run_length)
    use = _fields_active_mask(active, direction.shape[0])
    select = use[:, None] & interior[None, :]
    updated = preconditioned + np.asarray(beta)[:, None] * direction
    direction[select] = updated[select]


def tridiagonal_factor(lower: np.ndarray, diagonal: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`mscabm._kernels.tridiagonal_factor` (vectorised over lanes).

    Pivots are built as Schur complements ``p[z] = d[z] - l[z] u[z-1] / p[z-1]`` and
    inverted at the end.
    """
    pivot = np.empty_like(diagonal)
    pivot[:, 0, :] = diagonal[:, 0, :]
    for row in range(1, diagonal.shape[1]):
        coupling = (lower[:, row] * upper[:, row - 1])[:, None]
        pivot[:, row, :] = diagonal[:, row, :] - coupling / pivot[:, row - 1, :]
    return 1.0 / pivot


def tridiagonal_solve(
    lower: np.ndarray,
    upper: np.ndarray,
    inv_pivot: np.ndarray,
    rhs: np.ndarray,
    active: np.ndarray | None = None,
) -> None:
    """NumPy twin of :func:`mscabm._kernels.tridiagonal_solve` (vectorised over lanes)."""
    use = _fields_active_mask(active, rhs.shape[0])
    n_rows = rhs.shape[1]
    work = rhs[use].copy()
    lower_used, upper_used, inv_used = lower[use], upper[use], inv_pivot[use]
    work[:, 0, :] *= inv_used[:, 0, :]
    for row in range(1, n_rows):
        work[:, row, :] = (work[:, row, :] - lower_used[:, row, None] * work[:, row - 1, :]) * (
            inv_used[:, row, :]
        )
    for row in range(n_rows - 2, -1, -1):
        work[:, row, :] -= upper_used[:, row, None] * inv_used[:, row, :] * work[:, row + 1, :]
    rhs[use] = work


# Multigrid twins: one field at a time, each level sliced out as a (nz, n_cols) array, each
# colour's depth lines solved together by a Thomas sweep whose pivots are rebuilt here from the
# diagonal and depth faces (the kernel uses the stored inverse pivots voxel by voxel).
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from mscabm._kernels import FieldMultigrid


def _mg_level(mg: FieldMultigrid, field: int, level: int) -> dict:
    first = int(mg.level_offsets[level])
    cols = slice(first, first + int(mg.level_cols[level]))
    coefficients = int(mg.coefficient_set[field])
    return {
        "diag": mg.diag[coefficients][:, cols],
        "depth": mg.depth[coefficients][:, cols],
        "lateral": mg.lateral[coefficients][:, :, cols],
        "plus": mg.neighbours_plus[:, cols],
        "minus": mg.neighbours_minus[:, cols],
        "aggregate": mg.aggregate[cols],
        "colours": [
            mg.colour_columns[start:stop]
            for start, stop in zip(mg.colour_ptr[level, :-1], mg.colour_ptr[level, 1:], strict=True)
        ],
    }


def _mg_apply(level: dict, x: np.ndarray) -> np.ndarray:
    out = level["diag"] * x
    out[:-1] -= level["depth"][:-1] * x[1:]
    out[1:] -= level["depth"][:-1] * x[:-1]
    for axis in range(level["plus"].shape[0]):
        face = level["lateral"][axis]
        out -= face * x[:, level["plus"][axis]]
        out -= face[:, level["minus"][axis]] * x[:, level["minus"][axis]]
    return out


def _mg_line_solve(level: dict, columns: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Thomas solve of the depth systems of ``columns`` (right-hand sides ``rhs``)."""
    diag = level["diag"][:, columns]
    coupling = level["depth"][:, columns]
    nz = diag.shape[0]
    pivot = np.empty_like(diag)
    forward = np.empty_like(diag)
    pivot[0] = diag[0]
    forward[0] = rhs[0]
    for z in range(1, nz):
        ratio = coupling[z - 1] / pivot[z - 1]
        pivot[z] = diag[z] - ratio * coupling[z - 1]
        forward[z] = rhs[z] + ratio * forward[z - 1]
    solution = np.empty_like(diag)
    solution[-1] = forward[-1] / pivot[-1]
    for z in range(nz - 2, -1, -1):
        solution[z] = (forward[z] + coupling[z] * solution[z + 1]) / pivot[z]
    return solution


def _mg_sweep(level: dict, b: np.ndarray, x: np.ndarray, colours: list) -> None:
    for columns in colours:
        if columns.size == 0:
            continue
        residual = b - _mg_apply(level, x)
        # the line's own coupling is inside the solve: add it back to the residual
        own = level["diag"][:, columns] * x[:, columns]
        own[:-1] -= level["depth"][:-1, columns] * x[1:, columns]
        own[1:] -= level["depth"][:-1, columns] * x[:-1, columns]
        x[:, columns] = _mg_line_solve(level, columns, residual[:, columns] + own)


def _mg_vcycle_field(mg: FieldMultigrid, field: int, rhs: np.ndarray) -> np.ndarray:
    levels = [_mg_level(mg, field, level) for level in range(mg.level_cols.size)]
    rhs_by_level = [rhs]
    solutions = []
    for index, level in enumerate(levels):
        b = rhs_by_level[index]
        x = np.zeros_like(b)
        _mg_sweep(level, b, x, level["colours"])
        solutions.append(x)
        if index + 1 < len(levels):
            residual = b - _mg_apply(level, x)
            coarse = np.zeros((b.shape[0], int(mg.level_cols[index + 1])))
            np.add.at(coarse.T, level["aggregate"], residual.T)
            rhs_by_level.append(coarse)
    for index in range(len(levels) - 2, -1, -1):
        level = levels[index]
        solutions[index] += solutions[index + 1][:, level["aggregate"]]
        _mg_sweep(level, rhs_by_level[index], solutions[index], level["colours"][::-1])
    return solutions[0]


def field_mg_vcycle(
    mg: FieldMultigrid, residual: np.ndarray, active: np.ndarray | None = None
) -> np.ndarray:
    """NumPy twin of :func:`mscabm._kernels.field_mg_vcycle`."""
    out = np.zeros_like(residual)
    for field in np.flatnonzero(_fields_active_mask(active, residual.shape[0])):
        out[field] = _mg_vcycle_field(mg, int(field), residual[field])
    return out


def field_mg_pcg(
    mg: FieldMultigrid,
    conc: np.ndarray,
    rhs: np.ndarray,
    rtol: float,
    max_iterations: int,
    active: np.ndarray | None = None,
    workspace: np.ndarray | None = None,
    expected_iterations: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NumPy twin of :func:`mscabm._kernels.field_mg_pcg`.

    ``workspace`` and ``expected_iterations`` (how the compiled kernel groups fields) are
    ignored: fields are solved one by one.
    """
    del workspace, expected_iterations
    n_fields, nz = conc.shape[0], mg.nz
    iterations = np.zeros(n_fields, dtype=np.int64)
    status = np.zeros(n_fields, dtype=np.int64)
    residual_sq = np.zeros(n_fields)
    rhs_sq = np.zeros(n_fields)
    for field in np.flatnonzero(_fields_active_mask(active, n_fields)):
        level = _mg_level(mg, int(field), 0)
        b = rhs[field, :nz]
        rhs_sq[field] = np.sum(rhs[field] ** 2)
        if rhs_sq[field] == 0.0:
            conc[field, :nz] = 0.0
            continue
        decoupled = mg.decoupled[mg.coefficient_set[field]] != 0
        x = np.where(decoupled, b / level["diag"], conc[field, :nz])
        r = np.where(decoupled, 0.0, b - _mg_apply(level, x))
        tol_sq = max(rtol**2 * rhs_sq[field], RESIDUAL_SQ_FLOOR)
        r_sq = np.sum(r * r)
        count = 0
        if r_sq > tol_sq:
            z = _mg_vcycle_field(mg, int(field), r)
            rz = np.sum(r * z)
            p = z.copy()
            while True:
                if not rz > 0.0:
                    status[field] = 2
                    break
                ap = _mg_apply(level, p)
                alpha = rz / np.sum(p * ap)
                x = x + alpha * p
                r = r - alpha * ap
                r_sq = np.sum(r * r)
                count += 1
                if r_sq <= tol_sq:
                    break
                if count >= max_iterations:
                    status[field] = 1
                    break
                z = _mg_vcycle_field(mg, int(field), r)
                rz_new = np.sum(r * z)
                p = z + (rz_new / rz) * p
                rz = rz_new
        conc[field, :nz] = x
        iterations[field] = count
        residual_sq[field] = r_sq
    return iterations, status, residual_sq, rhs_sq


def field_mg_build_line(
    diffusion: np.ndarray,
    base: np.ndarray,
    scale: float,
    level_cols: np.ndarray,
    out: tuple[np.ndarray, ...] | None = None,
    changed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NumPy twin of :func:`mscabm._kernels.field_mg_build_line` (``out``, ``changed`` ignored).

    A partial build equals the full one, so the twin always builds everything. Level by
    level with whole arrays: np.roll for the periodic neighbours, even and odd slices for the
    pairs.
    """
    del out, changed
    n_sets, nz, _ = diffusion.shape
    n_total = int(np.sum(level_cols))
    diag = np.zeros((n_sets, nz, n_total))
    depth_all = np.zeros((n_sets, nz, n_total))
    lateral_all = np.zeros((n_sets, 1, nz, n_total))

    def harmonic(a, b):
        total = a + b
        safe = np.where(total > 0.0, total, 1.0)
        return np.where(total > 0.0, 2.0 * a * b / safe, 0.0)

    mass = base.copy()
    is_open = diffusion > 0.0
    depth = np.zeros_like(diffusion)
    depth[:, :-1] = scale * harmonic(diffusion[:, :-1], diffusion[:, 1:])
    if diffusion.shape[2] > 1:
        lateral = scale * harmonic(diffusion, np.roll(diffusion, -1, axis=2))
    else:
        lateral = np.zeros_like(diffusion)
    first = 0
    for level, n in enumerate(int(count) for count in level_cols):
        if level > 0:
            pairs = n - (mass.shape[2] % 2)  # complete pairs; an odd last column stays alone
            weights = np.where(is_open, mass, 0.0)
            fine_open = is_open
            is_open = np.concatenate(
                (fine_open[:, :, 0 : 2 * pairs : 2] | fine_open[:, :, 1 : 2 * pairs : 2],
                 fine_open[:, :, 2 * pairs :]), axis=2)  # fmt: skip
            summed = np.concatenate(
                (weights[:, :, 0 : 2 * pairs : 2] + weights[:, :, 1 : 2 * pairs : 2],
                 weights[:, :, 2 * pairs :]), axis=2)  # fmt: skip
            mass = np.where(is_open, summed, 1.0)
            depth = np.concatenate(
                (depth[:, :, 0 : 2 * pairs : 2] + depth[:, :, 1 : 2 * pairs : 2],
                 depth[:, :, 2 * pairs :]), axis=2)  # fmt: skip
            after = np.minimum(2 * np.arange(n) + 1, lateral.shape[2] - 1)
            lateral = 0.5 * lateral[:, :, after] if n > 1 else np.zeros_like(depth)
        below = np.zeros_like(depth)
        below[:, 1:] = depth[:, :-1]
        total = mass + depth
        total[:, 1:] = total[:, 1:] + below[:, 1:]
        diag[:, :, first : first + n] = (total + lateral) + np.roll(lateral, 1, axis=2)
        depth_all[:, :, first : first + n] = depth
        lateral_all[:, 0, :, first : first + n] = lateral
        first += n
    pivot = np.empty_like(diag)
    pivot[:, 0] = diag[:, 0]
    for z in range(1, nz):
        pivot[:, z] = diag[:, z] - depth_all[:, z - 1] * depth_all[:, z - 1] / pivot[:, z - 1]
    n_cols = int(level_cols[0])
    level0_depth = depth_all[:, :, :n_cols]
    level0_lateral = lateral_all[:, 0, :, :n_cols]
    faces = (level0_depth != 0.0) | (level0_lateral != 0.0)
    faces |= np.roll(level0_lateral, 1, axis=2) != 0.0
    faces[:, 1:] |= level0_depth[:, :-1] != 0.0
    return diag, depth_all, lateral_all, 1.0 / pivot, (~faces).astype(np.uint8)


# --------------------------------------------------------------------------------------- mobile
# Twin of the mobile-walk kernel: each round sorted with Python's sorted() on (key, id, position)
# tuples, valid slots found with NumPy masks, probabilities and their running sum in Python
# floats (IEEE doubles, the same operations in the same order as the kernel).

_MOBILE_MOVE_ORDER = 5  # mscabm.random.Purpose.MOVE_ORDER
_MOBILE_MOVE_DIRECTION = 6  # mscabm.random.Purpose.MOVE_DIRECTION
_MOBILE_KIND_CELL = 1  # mscabm.random.EntityKind.CELL


def mobile_walk(
    voxel, cell_id, hops, bias, follow, walker_kind, fields, allowed, occupancy, capacity,
    neighbours, seed, step,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Twin of :func:`mscabm._kernels.mobile_walk` (``occupancy`` is updated in place)."""
    position = np.array(voxel, dtype=np.int64, copy=True)
    ids = np.asarray(cell_id, dtype=np.uint64)
    hops = np.asarray(hops, dtype=np.int64)
    table = np.asarray(neighbours, dtype=np.int64)
    fields = np.asarray(fields, dtype=np.float64)
    allowed = np.asarray(allowed)
    moved = np.zeros(position.shape[0], dtype=np.int32)
    rounds = int(hops.max()) if hops.size else 0
    for r in range(rounds):
        acting = np.flatnonzero(hops > r)
        acting_ids = ids[acting]
        priority = _key_chain(seed, step, _MOBILE_MOVE_ORDER, _MOBILE_KIND_CELL, acting_ids, [r])
        direction = _key_chain(
            seed, step, _MOBILE_MOVE_DIRECTION, _MOBILE_KIND_CELL, acting_ids, [r]
        )
        turn = sorted(
            range(acting.shape[0]),
            key=lambda q: (int(priority[q, 0]), int(acting_ids[q]), int(acting[q])),
        )
        for q in turn:
            cell = int(acting[q])
            here = int(position[cell])
            slots = table[here]
            inside = slots >= 0
            ok = np.zeros(slots.shape[0], dtype=bool)
            ok[inside] = allowed[int(walker_kind[cell]), slots[inside]] == 1
            targets = [int(t) for t in slots[ok]]  # valid neighbours in slot order
            if not targets:
                continue
            row = int(follow[cell])
            gains = [0.0] * len(targets)
            if row >= 0:
                level = float(fields[row, here])
                gains = [max(0.0, float(fields[row, t]) - level) for t in targets]
            total = 0.0
            for gain in gains:
                total = total + gain
            b = float(bias[cell])
            count = len(targets)
            if row < 0 or total == 0.0:
                weights = [1.0 / count] * count
            else:
                weights = [(1.0 - b) / count + b * gain / total for gain in gains]
            u = (int(direction[q, 0]) >> 11) * 2.0**-53
            target = targets[-1]
            running = 0.0
            for candidate, weight in zip(targets, weights, strict=True):
                running = running + weight
                if running > u:
                    target = candidate
                    break
            if occupancy[target] < capacity[target]:
                occupancy[here] -= 1
                occupancy[target] += 1
                position[cell] = target
                moved[cell] += 1
    return position, moved
