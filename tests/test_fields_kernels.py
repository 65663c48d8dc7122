"""Field-solver kernels (cext/fields.pyx) against their NumPy twins and hand-worked cases."""

import platform

import numpy as np
import pytest

from mscabm import _kernels, _reference
from mscabm.diffusion import FieldSolver

KERNEL_NAMES = [
    "field_operator_apply",
    "field_dot",
    "field_cg_update",
    "field_cg_direction",
    "tridiagonal_factor",
    "tridiagonal_solve",
    "field_mg_vcycle",
    "field_mg_pcg",
    "field_mg_build_line",
]


def padded_layout(shape):
    """Offsets (one per axis) and interior run starts of a grid padded by one ghost voxel."""
    padded = [n + 2 for n in shape]
    strides = []
    stride = 1
    for n in reversed(padded):
        strides.append(stride)
        stride *= n
    offsets = np.array(strides[::-1], dtype=np.int64)
    starts = []
    for index in np.ndindex(*shape[:-1]):
        starts.append(sum((i + 1) * s for i, s in zip(index, offsets[:-1], strict=True)) + 1)
    return offsets, np.array(starts, dtype=np.int64), shape[-1], int(np.prod(padded))


def rel_err(got, want):
    return np.linalg.norm(np.ravel(got - want)) / np.linalg.norm(np.ravel(want))


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_twins_share_names_and_signatures(name):
    import inspect

    assert inspect.signature(getattr(_kernels, name)) == inspect.signature(
        getattr(_reference, name)
    )


@pytest.mark.parametrize("shape", [(7, 9), (5, 4, 6)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vector_kernels_match_twins(shape, seed):
    rng = np.random.default_rng(seed)
    offsets, starts, length, size = padded_layout(shape)
    n_fields = 3
    x = rng.normal(size=(n_fields, size))
    diagonal = rng.uniform(1, 5, size=(n_fields, size))
    weights = rng.uniform(0, 1, size=(n_fields, len(shape), size))
    active = np.array([1, 0, 1], dtype=np.uint8)

    out_k, dot_k = _kernels.field_operator_apply(x, diagonal, weights, offsets, starts, length)
    out_r, dot_r = _reference.field_operator_apply(x, diagonal, weights, offsets, starts, length)
    assert rel_err(out_k, out_r) < 1e-12
    assert rel_err(dot_k, dot_r) < 1e-12

    out_k, dot_k = _kernels.field_operator_apply(
        x, diagonal, weights, offsets, starts, length, active
    )
    out_r, dot_r = _reference.field_operator_apply(
        x, diagonal, weights, offsets, starts, length, active
    )
    assert np.all(out_k[1] == 0.0) and dot_k[1] == 0.0
    assert rel_err(out_k, out_r) < 1e-12
    assert rel_err(dot_k, dot_r) < 1e-12

    y = rng.normal(size=(n_fields, size))
    assert (
        rel_err(
            _kernels.field_dot(x, y, starts, length, active),
            _reference.field_dot(x, y, starts, length, active),
        )
        < 1e-12
    )

    alpha = rng.normal(size=n_fields)
    p, ap = rng.normal(size=(2, n_fields, size))
    xk, rk, xr, rr = x.copy(), y.copy(), x.copy(), y.copy()
    sq_k = _kernels.field_cg_update(xk, rk, p, ap, alpha, starts, length, active)
    sq_r = _reference.field_cg_update(xr, rr, p, ap, alpha, starts, length, active)
    assert rel_err(xk, xr) < 1e-12 and rel_err(rk, rr) < 1e-12 and rel_err(sq_k, sq_r) < 1e-12
    assert np.array_equal(xk[1], x[1]) and np.array_equal(rk[1], y[1])

    beta = rng.normal(size=n_fields)
    pk, pr = p.copy(), p.copy()
    _kernels.field_cg_direction(ap, pk, beta, starts, length, active)
    _reference.field_cg_direction(ap, pr, beta, starts, length, active)
    assert rel_err(pk, pr) < 1e-12
    assert np.array_equal(pk[1], p[1])


def test_dot_is_a_plain_interior_sum():
    shape = (3, 4)
    _, starts, length, size = padded_layout(shape)
    a = np.full((1, size), 100.0)  # ghosts hold 100 and must not count
    grid = a.reshape(1, 5, 6)
    grid[0, 1:-1, 1:-1] = np.arange(12).reshape(3, 4)
    assert _kernels.field_dot(a, a, starts, length)[0] == float(np.sum(np.arange(12) ** 2))


@pytest.mark.parametrize("shape", [(5, 5), (5, 5, 5)])
def test_operator_on_a_single_voxel_delta(shape):
    offsets, starts, length, size = padded_layout(shape)
    ndim = len(shape)
    x = np.zeros((1, size))
    centre = tuple(n // 2 + 1 for n in shape)  # padded coordinates
    flat_centre = int(np.ravel_multi_index(centre, [n + 2 for n in shape]))
    x[0, flat_centre] = 1.0
    weight = 0.25
    diagonal = np.full((1, size), 1.0 + 2 * ndim * weight)
    weights = np.full((1, ndim, size), weight)
    out, x_dot_ax = _kernels.field_operator_apply(x, diagonal, weights, offsets, starts, length)
    expected = np.zeros(size)
    expected[flat_centre] = 1.0 + 2 * ndim * weight
    for offset in offsets:
        expected[flat_centre + offset] = -weight
        expected[flat_centre - offset] = -weight
    assert np.array_equal(out[0], expected)
    assert x_dot_ax[0] == 1.0 + 2 * ndim * weight
    # Row sums of an operator without loss are 1: A applied to ones gives ones inside
    # (ghosts hold ones too here, so borders see the same neighbours).
    ones = np.ones((1, size))
    out, _ = _kernels.field_operator_apply(ones, diagonal, weights, offsets, starts, length)
    interior = out.reshape([n + 2 for n in shape])[(slice(1, -1),) * ndim]
    assert np.allclose(interior, 1.0, rtol=0, atol=1e-15)


def test_operator_face_weights_are_per_face():
    # 1 x 3 row: faces (0,1) weight 2 and (1,2) weight 5, ghosts zero.
    offsets, starts, length, size = padded_layout((1, 3))
    x = np.zeros((1, size))
    grid = x.reshape(3, 5)
    grid[1, 1:4] = [1.0, 10.0, 100.0]
    weights = np.zeros((1, 2, size))
    wgrid = weights.reshape(2, 3, 5)
    wgrid[1, 1, 1] = 2.0  # between interior x=0 and x=1
    wgrid[1, 1, 2] = 5.0  # between interior x=1 and x=2
    diagonal = np.zeros((1, size))
    out, _ = _kernels.field_operator_apply(x, diagonal, weights, offsets, starts, length)
    assert np.array_equal(out.reshape(3, 5)[1, 1:4], [-20.0, -2.0 - 500.0, -50.0])


def test_tridiagonal_hand_worked():
    # [[2,-1,0],[-1,2,-1],[0,-1,2]] x = [1,0,1]  ->  x = [1,1,1]
    lower = np.array([[0.0, -1.0, -1.0]])
    upper = np.array([[-1.0, -1.0, 0.0]])
    diagonal = np.full((1, 3, 2), 2.0)
    diagonal[0, :, 1] = 4.0  # second lane: [[4,-1,0],[-1,4,-1],[0,-1,4]] x = [3,2,3]
    inv_pivot = _kernels.tridiagonal_factor(lower, diagonal, upper)
    # pivots of lane 0: 2, 3/2, 4/3
    assert np.allclose(inv_pivot[0, :, 0], [1 / 2, 2 / 3, 3 / 4], rtol=1e-15, atol=0)
    rhs = np.array([[[1.0, 3.0], [0.0, 2.0], [1.0, 3.0]]])
    _kernels.tridiagonal_solve(lower, upper, inv_pivot, rhs)
    assert np.allclose(rhs[0], 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tridiagonal_matches_twin_and_dense_solve(seed):
    rng = np.random.default_rng(seed)
    n_batch, n_rows, n_lanes = 3, 17, 70  # 70 lanes: one full and one partial lane block
    lower = -rng.uniform(0, 1, (n_batch, n_rows))
    upper = -rng.uniform(0, 1, (n_batch, n_rows))
    diagonal = rng.uniform(2.1, 4, (n_batch, n_rows, n_lanes))
    rhs = rng.normal(size=(n_batch, n_rows, n_lanes))
    inv_k = _kernels.tridiagonal_factor(lower, diagonal, upper)
    inv_r = _reference.tridiagonal_factor(lower, diagonal, upper)
    assert rel_err(inv_k, inv_r) < 1e-12
    active = np.array([1, 1, 0], dtype=np.uint8)
    sol_k, sol_r = rhs.copy(), rhs.copy()
    _kernels.tridiagonal_solve(lower, upper, inv_k, sol_k, active)
    _reference.tridiagonal_solve(lower, upper, inv_k, sol_r, active)
    assert rel_err(sol_k, sol_r) < 1e-12
    assert np.array_equal(sol_k[2], rhs[2])
    for batch in range(2):
        for lane in (0, 33, 69):
            matrix = (
                np.diag(diagonal[batch, :, lane])
                + np.diag(lower[batch, 1:], -1)
                + np.diag(upper[batch, :-1], 1)
            )
            dense = np.linalg.solve(matrix, rhs[batch, :, lane])
            assert rel_err(sol_k[batch, :, lane], dense) < 1e-12


def test_wrappers_reject_bad_inputs():
    offsets, starts, length, size = padded_layout((4, 4))
    x = np.zeros((2, size))
    diagonal = np.ones((2, size))
    weights = np.zeros((2, 2, size))
    with pytest.raises(ValueError, match="dtype float64"):
        _kernels.field_operator_apply(
            x.astype(np.float32), diagonal, weights, offsets, starts, length
        )
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.field_dot(np.zeros((size, 2)).T, x, starts, length)
    with pytest.raises(ValueError, match="shape"):
        _kernels.field_operator_apply(x, diagonal[:1], weights, offsets, starts, length)
    with pytest.raises(ValueError, match="outside the padded field"):
        _kernels.field_operator_apply(x, diagonal, weights, offsets, starts + size, length)
    with pytest.raises(ValueError, match="outside the padded field"):
        _kernels.field_dot(x, x, starts, length + size)
    with pytest.raises(ValueError, match="writeable"):
        frozen = np.zeros((1, 3, 2))
        frozen.flags.writeable = False
        _kernels.tridiagonal_solve(np.zeros((1, 3)), np.zeros((1, 3)), np.ones((1, 3, 2)), frozen)
    with pytest.raises(ValueError, match="singular"):
        _kernels.tridiagonal_factor(np.zeros((1, 2)), np.zeros((1, 2, 1)), np.zeros((1, 2)))


# ------------------------------------------------------------------ multigrid-preconditioned CG
def skin_coefficients(shape, seed=0):
    """Diffusion and loss on a skin-like grid: irregular surface with air above, a barrier of
    1-3 voxels at D x 0.01, a closed pocket inside the tissue, random uptake."""
    rng = np.random.default_rng(seed)
    nz = shape[0]
    surface = rng.integers(int(0.6 * nz), nz - 2, size=shape[1:])
    barrier = rng.integers(1, 4, size=shape[1:])
    z = np.arange(nz).reshape((nz,) + (1,) * (len(shape) - 1))
    air = z > surface
    corneum = ~air & (z > surface - barrier)
    diffusion = np.where(air, 0.0, np.where(corneum, 30.0, 3000.0))
    diffusion[(nz // 3, *(min(1, n - 1) for n in shape[1:]))] = 0.0  # closed, inside tissue
    decay = np.where(corneum, 0.003, 0.023) + np.where(rng.random(shape) < 0.1, 0.5, 0.0)
    return diffusion, decay


def skin_hierarchy(shape, lateral_bc, n_fields=2, seed=0):
    """A FieldSolver hierarchy on a skin-like grid (:func:`skin_coefficients`)."""
    diffusion, decay = skin_coefficients(shape, seed)
    solver = FieldSolver(shape, 10.0, 6.0, n_fields, lateral_bc=lateral_bc,
                         bottom_bc=["fixed"] + ["no_flux"] * (n_fields - 1))  # fmt: skip
    scales = np.linspace(1.0, 1.5, n_fields).reshape((n_fields,) + (1,) * len(shape))
    # The general solver's hierarchy even where the coefficients would allow the layered path.
    solver._setup_general(diffusion[None] * scales, np.stack([decay] * n_fields))
    return solver._multigrid


HIERARCHY_CASES = [((12, 9), "periodic"), ((10, 8), "no_flux"), ((8, 5, 6), "periodic"),
                   ((7, 3, 4), "no_flux"), ((6, 1), "periodic")]  # fmt: skip


@pytest.mark.parametrize(("shape", "lateral_bc"), HIERARCHY_CASES)
def test_mg_kernels_match_twins(shape, lateral_bc):
    mg = skin_hierarchy(shape, lateral_bc, n_fields=3)
    rng = np.random.default_rng(1)
    n_cols = int(mg.level_cols[0])
    residual = rng.normal(size=(3, mg.nz, n_cols)) * (mg.decoupled == 0)
    active = np.array([1, 0, 1], dtype=np.uint8)
    out_k = _kernels.field_mg_vcycle(mg, residual, active)
    out_r = _reference.field_mg_vcycle(mg, residual, active)
    assert np.all(out_k[1] == 0.0)
    assert rel_err(out_k, out_r) < 1e-12
    assert np.all(out_k[mg.decoupled != 0] == 0.0)

    if n_cols == 1:
        return  # the V-cycle is then an exact solve (see the single-column test)
    nz_all = mg.nz + 2
    rhs = rng.uniform(0, 1, (3, nz_all, n_cols))
    start = rng.uniform(0, 1, (3, nz_all, n_cols))
    conc_k, conc_r = start.copy(), start.copy()
    # Three iterations, no convergence: the same steps must be taken by both.
    res_k = _kernels.field_mg_pcg(mg, conc_k, rhs, 1e-300, 3, active)
    res_r = _reference.field_mg_pcg(mg, conc_r, rhs, 1e-300, 3, active)
    assert res_k[0].tolist() == res_r[0].tolist() == [3, 0, 3]
    assert res_k[1].tolist() == res_r[1].tolist() == [1, 0, 1]
    assert rel_err(conc_k, conc_r) < 1e-12
    assert rel_err(res_k[2], res_r[2]) < 1e-10 and rel_err(res_k[3], res_r[3]) < 1e-12
    assert np.array_equal(conc_k[1], start[1]) and np.array_equal(conc_k[:, mg.nz:],
                                                                     start[:, mg.nz:])  # fmt: skip


def dense_level0(mg, field):
    """Dense matrix of the level-0 operator of one field, from the hierarchy arrays."""
    nz, n_cols = mg.nz, int(mg.level_cols[0])
    coefficients = int(mg.coefficient_set[field])
    n = nz * n_cols
    matrix = np.zeros((n, n))
    index = np.arange(n).reshape(nz, n_cols)
    matrix[index.ravel(), index.ravel()] = mg.diag[coefficients, :, :n_cols].ravel()
    for z in range(nz - 1):
        w = mg.depth[coefficients, z, :n_cols]
        matrix[index[z], index[z + 1]] -= w
        matrix[index[z + 1], index[z]] -= w
    for axis in range(mg.neighbours_plus.shape[0]):
        plus = mg.neighbours_plus[axis, :n_cols]
        w = mg.lateral[coefficients, axis, :, :n_cols]
        for z in range(nz):
            np.add.at(matrix, (index[z], index[z, plus]), -w[z])
            np.add.at(matrix, (index[z, plus], index[z]), -w[z])
    return matrix


@pytest.mark.parametrize(("shape", "lateral_bc"), HIERARCHY_CASES)
def test_mg_preconditioner_is_symmetric_positive_definite(shape, lateral_bc):
    mg = skin_hierarchy(shape, lateral_bc, n_fields=1, seed=2)
    n_cols = int(mg.level_cols[0])
    coupled = np.flatnonzero(mg.decoupled[0].ravel() == 0)
    basis = np.zeros((coupled.size, mg.nz * n_cols))
    basis[np.arange(coupled.size), coupled] = 1.0
    applied = np.stack([
        _kernels.field_mg_vcycle(mg, e.reshape(1, mg.nz, n_cols)).ravel()[coupled] for e in basis
    ])  # fmt: skip
    assert np.max(np.abs(applied - applied.T)) <= 1e-12 * np.max(np.abs(applied))
    eigen = np.linalg.eigvalsh(0.5 * (applied + applied.T))
    assert eigen.min() > 0.0
    # Preconditioned operator: positive spectrum, small condition number.
    operator = dense_level0(mg, 0)[np.ix_(coupled, coupled)]
    spectrum = np.sort(np.linalg.eigvals(applied @ operator).real)
    assert spectrum[0] > 0.0
    assert spectrum[-1] / spectrum[0] < 15.0


def test_mg_single_column_is_an_exact_tridiagonal_solve():
    mg = skin_hierarchy((9, 1), "periodic", n_fields=1)
    assert mg.level_cols.tolist() == [1]
    rhs = np.random.default_rng(3).normal(size=(1, mg.nz, 1)) * (mg.decoupled == 0)
    dense = dense_level0(mg, 0)
    out = _kernels.field_mg_vcycle(mg, rhs)
    assert rel_err(out.ravel(), np.linalg.solve(dense, rhs.ravel())) < 1e-13
    conc = np.zeros((1, mg.nz, 1))
    iterations, status, _, _ = _kernels.field_mg_pcg(mg, conc, rhs, 1e-12, 5)
    assert iterations.tolist() == [1] and status.tolist() == [0]


def test_mg_pcg_zero_rhs_gives_zero():
    mg = skin_hierarchy((8, 6), "periodic", n_fields=2)
    conc = np.ones((2, mg.nz, 6))
    rhs = np.zeros_like(conc)
    rhs[1] = 1.0
    iterations, status, _, rhs_sq = _kernels.field_mg_pcg(mg, conc, rhs, 1e-10, 50)
    assert np.all(conc[0] == 0.0) and rhs_sq[0] == 0.0 and iterations[0] == 0
    assert status.tolist() == [0, 0] and iterations[1] > 0


@pytest.mark.parametrize("n_fields", [1, 4])  # one field alone, or four in lockstep lanes
def test_mg_pcg_stops_a_field_at_the_underflow_limit(n_fields):
    """Values near 1e-160 (a cytokine decayed for weeks without a source) have residual
    squares at the underflow limit of doubles, where r.z rounds to 0: such a field counts as
    converged (it used to stop with 'lost positivity'); the twin agrees and a field of
    ordinary size is solved as before."""
    assert _reference.RESIDUAL_SQ_FLOOR == _kernels.FIELDS_RESIDUAL_SQ_FLOOR == 1e-300
    mg = skin_hierarchy((16, 21), "periodic", n_fields=1, seed=3)
    mg = mg._replace(coefficient_set=np.zeros(n_fields, dtype=np.int64))
    rng = np.random.default_rng(1)
    shape = (n_fields, mg.nz, int(mg.level_cols[0]))
    scales = np.array([1e-160, 1.0, 1e-155, 1e-100][:n_fields])[:, None, None]
    rhs = rng.uniform(0, 1, shape) * scales
    start = rng.uniform(0, 1, shape) * scales
    compiled, twin = start.copy(), start.copy()
    iterations, status, residual_sq, _ = _kernels.field_mg_pcg(mg, compiled, rhs, 1e-4, 50)
    twin_result = _reference.field_mg_pcg(mg, twin, rhs, 1e-4, 50)
    assert status.tolist() == [0] * n_fields
    assert np.array_equal(iterations, twin_result[0])
    assert residual_sq[0] <= 1e-300 and iterations[0] == 0
    if n_fields > 1:
        assert iterations[1] > 0 and iterations[3] > 0  # sizes far from the floor iterate
    assert rel_err(compiled.ravel(), twin.ravel()) < 1e-12


def test_mg_wrappers_reject_bad_inputs():
    mg = skin_hierarchy((8, 6), "periodic", n_fields=2)
    residual = np.zeros((2, mg.nz, 6))
    bad = mg._replace(neighbours_plus=mg.neighbours_plus + 100)
    with pytest.raises(ValueError, match="neighbours_plus points outside"):
        _kernels.field_mg_vcycle(bad, residual)
    bad = mg._replace(aggregate=mg.aggregate * 0 + 50)
    with pytest.raises(ValueError, match="aggregate"):
        _kernels.field_mg_vcycle(bad, residual)
    bad = mg._replace(colour_columns=mg.colour_columns + 7)
    with pytest.raises(ValueError, match="colour_columns"):
        _kernels.field_mg_vcycle(bad, residual)
    with pytest.raises(ValueError, match="shape"):
        _kernels.field_mg_vcycle(mg, residual[:, :-1])
    with pytest.raises(ValueError, match="FieldMultigrid"):
        _kernels.field_mg_vcycle(dict(mg._asdict()), residual)
    with pytest.raises(ValueError, match="at least mg\\.nz"):
        _kernels.field_mg_pcg(mg, residual[:, :-1].copy(), residual[:, :-1].copy(), 1e-6, 5)
    with pytest.raises(ValueError, match="rtol"):
        _kernels.field_mg_pcg(mg, residual.copy(), residual, 0.0, 5)
    with pytest.raises(ValueError, match="max_iterations"):
        _kernels.field_mg_pcg(mg, residual.copy(), residual, 1e-6, 0)


@pytest.mark.parametrize(
    ("shape", "lateral_bc", "line"),
    [((12, 9), "periodic", True), ((7, 16), "periodic", True), ((6, 1), "periodic", True),
     ((10, 8), "no_flux", False), ((8, 5, 6), "periodic", False)],
)  # fmt: skip
def test_mg_line_kernels_give_the_general_path_bits(monkeypatch, shape, lateral_bc, line):
    """One periodic lateral axis is computed from column arithmetic (no tables): the same
    sums in the same order as the general table-driven path, so the same bits."""
    mg = skin_hierarchy(shape, lateral_bc, n_fields=3)
    assert _kernels._fields_check_multigrid(mg)[4] is line
    rng = np.random.default_rng(4)
    n_cols = int(mg.level_cols[0])
    residual = rng.normal(size=(3, mg.nz, n_cols)) * (mg.decoupled == 0)
    rhs = rng.uniform(0, 1, (3, mg.nz + 1, n_cols))
    start = rng.uniform(0, 1, (3, mg.nz + 1, n_cols))

    def run():
        conc = start.copy()
        result = _kernels.field_mg_pcg(mg, conc, rhs, 1e-300, 4)
        return _kernels.field_mg_vcycle(mg, residual), conc, result

    fast = run()
    monkeypatch.setattr(_kernels, "_fields_tables_kind", lambda *tables: 0)  # valid, not a line
    general = run()
    assert np.array_equal(fast[0], general[0]) and np.array_equal(fast[1], general[1])
    for got, want in zip(fast[2], general[2], strict=True):
        assert np.array_equal(got, want)


def test_mg_line_detection_rejects_other_tables():
    mg = skin_hierarchy((12, 9), "periodic", n_fields=1)
    assert _kernels._fields_check_multigrid(mg)[4]
    swapped = mg.colour_columns.copy()
    swapped[[0, 5]] = swapped[[5, 0]]  # an odd column among the even ones
    assert not _kernels._fields_check_multigrid(mg._replace(colour_columns=swapped))[4]
    shifted = mg.neighbours_plus.copy()
    shifted[0, :9] = (np.arange(9) + 2) % 9
    assert not _kernels._fields_check_multigrid(mg._replace(neighbours_plus=shifted))[4]


def _numpy_tables_kind(mg):
    """The NumPy checks' verdict on mg's tables: -1 invalid, 0 valid, 1 valid line grid."""
    tables = mg_tables(mg)
    try:
        _kernels._fields_check_tables(tables)
    except ValueError:
        return -1
    return int(_kernels._fields_is_line(tables))


def mg_tables(mg):
    return _kernels._MgTables(mg.level_cols, mg.level_offsets, mg.neighbours_plus,
                              mg.neighbours_minus, mg.aggregate, mg.colour_columns,
                              mg.colour_ptr)  # fmt: skip


@pytest.mark.parametrize(("shape", "lateral_bc"), [*HIERARCHY_CASES, ((7, 16), "periodic")])
def test_compiled_table_check_agrees_with_its_numpy_twin(shape, lateral_bc):
    """The compiled verdict on the hierarchy tables (checked every step) is the NumPy checks'
    on valid tables and on 200 tables with one entry changed or two entries swapped; an
    invalid table still raises the NumPy check's message."""
    mg = skin_hierarchy(shape, lateral_bc, n_fields=1)
    assert _kernels._fields_check_multigrid(mg)[4] == (_numpy_tables_kind(mg) == 1)
    rng = np.random.default_rng(sum(shape))
    names = ("level_offsets", "neighbours_plus", "neighbours_minus", "aggregate",
             "colour_columns", "colour_ptr")  # fmt: skip
    verdicts = set()
    for _ in range(200):
        name = names[rng.integers(len(names))]
        table = getattr(mg, name).copy()
        flat = table.reshape(-1)
        i, j = rng.integers(flat.size, size=2)
        if rng.random() < 0.5:
            flat[i] = flat[i] + rng.choice([-2, -1, 1, 2])
        else:
            flat[[i, j]] = flat[[j, i]]
        changed = mg._replace(**{name: table})
        want = _numpy_tables_kind(changed)
        verdicts.add(want)
        got = _kernels._fields_tables_kind(mg_tables(changed))
        assert got == want, (name, i, j)
        if want < 0:
            with pytest.raises(ValueError, match=r"mg |points outside|colour_ptr|aggregate"):
                _kernels._fields_check_multigrid(changed)
    assert -1 in verdicts and (0 in verdicts or _numpy_tables_kind(mg) == 0)


def test_fields_with_identical_coefficients_share_one_set():
    """Fields with equal coefficients and bottom condition share a set; results are those of
    a hierarchy with one set per field, bit for bit."""
    shape, n_fields = (14, 20), 5
    rng = np.random.default_rng(8)
    nz = shape[0]
    surface = rng.integers(8, nz - 2, size=shape[1:])
    z = np.arange(nz)[:, None]
    base_d = np.where(z > surface, 0.0, np.where(z > surface - 2, 30.0, 3000.0))
    base_k = np.where(z > surface, 0.0, 0.02) + np.where(rng.random(shape) < 0.1, 0.4, 0.0)
    diffusion = np.stack([base_d, 2 * base_d, base_d, base_d, base_d])
    decay = np.stack([base_k, base_k, base_k, 2 * base_k, base_k])
    bottom = ["no_flux", "no_flux", "no_flux", "no_flux", "fixed"]
    shared = FieldSolver(shape, 10.0, 6.0, n_fields, bottom_bc=bottom, bottom_value=[0, 0, 0, 0, 2],
                         rtol=1e-8)  # fmt: skip
    shared.set_coefficients(diffusion, decay)
    assert shared._multigrid.coefficient_set.tolist() == [0, 1, 0, 2, 3]
    assert shared._multigrid.diag.shape[0] == 4

    # one set per field: make every field's coefficients distinct in a bit nobody uses
    separate = FieldSolver(shape, 10.0, 6.0, n_fields, bottom_bc=bottom,
                           bottom_value=[0, 0, 0, 0, 2], rtol=1e-8)  # fmt: skip
    separate.set_coefficients(diffusion, decay)
    mg = separate._multigrid
    sets = mg.coefficient_set
    separate._multigrid = mg._replace(
        diag=mg.diag[sets], depth=mg.depth[sets], lateral=mg.lateral[sets],
        inv_pivot=mg.inv_pivot[sets], decoupled=mg.decoupled[sets],
        coefficient_set=np.arange(n_fields, dtype=np.int64),
    )  # fmt: skip
    start = rng.uniform(0, 1, (n_fields, *shape))
    source = rng.uniform(0, 1, (n_fields, *shape)) * (diffusion > 0)
    a, b = start.copy(), start.copy()
    shared.step(a, source)
    separate.step(b, source)
    assert np.array_equal(a, b)
    assert np.array_equal(shared.last_iterations, separate.last_iterations)
    assert np.all(shared.last_iterations > 0)


@pytest.mark.parametrize("n_fields", [2, 3, 7])
def test_mg_pcg_lanes_give_the_field_by_field_bits(monkeypatch, n_fields):
    """Fields of one coefficient set solved in lockstep on a line grid (groups of up to
    FIELDS_MG_LANES) give the bits, iterations and statuses of solving them one by one, with
    lanes that stop at different iterations: a zero right-hand side, a start that is already
    the answer, a field hitting the iteration limit and fields of differing difficulty."""
    shape = (16, 21)  # odd: a third colour on every level
    mg = skin_hierarchy(shape, "periodic", n_fields=1, seed=3)
    mg = mg._replace(coefficient_set=np.zeros(n_fields, dtype=np.int64))
    assert _kernels._fields_check_multigrid(mg)[4]
    rng = np.random.default_rng(11)
    n_cols = int(mg.level_cols[0])
    rhs = rng.uniform(0, 1, (n_fields, mg.nz + 1, n_cols)) ** np.arange(1, n_fields + 1)[
        :, None, None
    ]  # fmt: skip
    start = rng.uniform(0, 1, (n_fields, mg.nz + 1, n_cols))
    rhs[1] = 0.0  # zero right-hand side: set to zero, no iteration
    if n_fields > 2:  # the start is the answer: 0 iterations, converged
        solved = start[2].copy()
        one = mg._replace(coefficient_set=np.zeros(1, dtype=np.int64))
        _kernels.field_mg_pcg(one, solved[None], rhs[2:3].copy(), 1e-14, 200)
        start[2] = solved
    active = np.ones(n_fields, dtype=np.uint8)
    if n_fields > 5:
        active[5] = 0

    def run(max_iterations):
        conc = start.copy()
        result = _kernels.field_mg_pcg(mg, conc, rhs, 1e-10, max_iterations, active)
        return conc, result

    for max_iterations in (3, 200):
        lanes = run(max_iterations)
        monkeypatch.setattr(
            _kernels, "_fields_groups", lambda fields, sets, line: np.arange(fields.size + 1)
        )
        alone = run(max_iterations)
        monkeypatch.undo()
        assert np.array_equal(lanes[0], alone[0])
        for got, want in zip(lanes[1], alone[1], strict=True):
            assert np.array_equal(got, want)
        iterations, status = alone[1][0], alone[1][1]
        if max_iterations == 3:
            assert np.any(status == 1)  # some lanes stop at the limit ...
        else:
            assert np.all(status == 0)
            assert len(set(iterations[active == 1].tolist())) >= 2  # ... at differing counts
            if n_fields > 2:
                assert iterations[2] == 0
        assert iterations[1] == 0 and np.all(lanes[0][1, : mg.nz] == 0.0)
        if n_fields > 5:
            assert np.array_equal(lanes[0][5], start[5])  # inactive: untouched
    groups = _kernels._fields_groups(
        np.arange(n_fields, dtype=np.int64), mg.coefficient_set, True
    )
    assert np.diff(groups).max() <= _kernels.FIELDS_MG_LANES and groups[-1] == n_fields


def test_mg_pcg_groups_fields_by_expected_iterations_without_changing_results(monkeypatch):
    """``expected_iterations`` puts the fields of a set into lockstep groups in descending
    order of the guess (so a group is not carried along by one slow field), and the bits,
    iterations and statuses are those of the default grouping."""
    n_fields = 7
    mg = skin_hierarchy((16, 21), "periodic", n_fields=1, seed=5)
    mg = mg._replace(coefficient_set=np.array([0, 0, 0, 0, 0, 0, 0], dtype=np.int64))
    rng = np.random.default_rng(2)
    n_cols = int(mg.level_cols[0])
    rhs = rng.uniform(0, 1, (n_fields, mg.nz, n_cols)) ** np.arange(1, n_fields + 1)[
        :, None, None
    ]  # fmt: skip
    rhs[1] = 0.0  # no iteration
    start = rng.uniform(0, 1, (n_fields, mg.nz, n_cols))
    seen = []
    original = _kernels._fields_groups

    def recording(fields, sets, line):
        seen.append(fields.tolist())
        return original(fields, sets, line)

    monkeypatch.setattr(_kernels, "_fields_groups", recording)
    plain = start.copy()
    plain_result = _kernels.field_mg_pcg(mg, plain, rhs, 1e-10, 200)
    guess = np.array([1, 5, 2, 5, 9, 0, 2], dtype=np.int64)
    hinted = start.copy()
    hinted_result = _kernels.field_mg_pcg(mg, hinted, rhs, 1e-10, 200, expected_iterations=guess)
    assert seen == [[0, 1, 2, 3, 4, 5, 6], [4, 1, 3, 2, 6, 0, 5]]
    assert np.array_equal(plain, hinted)
    for got, want in zip(hinted_result, plain_result, strict=True):
        assert np.array_equal(got, want)
    assert len(set(plain_result[0].tolist())) >= 2  # the fields do differ in iterations
    with pytest.raises(ValueError, match="expected_iterations"):
        _kernels.field_mg_pcg(mg, start.copy(), rhs, 1e-10, 200, expected_iterations=guess[:3])


def test_mg_workspace_has_one_slot_per_thread():
    mg = skin_hierarchy((8, 6), "periodic", n_fields=2)
    shape = _kernels.field_mg_workspace_shape(mg)
    lanes = _kernels.FIELDS_MG_LANES
    assert shape[1:] == (4, mg.nz, mg.neighbours_plus.shape[1], lanes) and shape[0] >= 1
    conc = np.ones((2, mg.nz, 6))
    with pytest.raises(ValueError, match="workspace"):
        _kernels.field_mg_pcg(mg, conc, conc.copy(), 1e-6, 5,
                              workspace=np.zeros((1, 4, mg.nz + 1, shape[3], lanes)))  # fmt: skip
    bad = mg._replace(coefficient_set=np.array([0, 5], dtype=np.int64))
    with pytest.raises(ValueError, match="coefficient_set"):
        _kernels.field_mg_vcycle(bad, conc)


@pytest.mark.parametrize("shape", [(12, 9), (7, 16), (9, 2), (5, 3), (30, 37)])
def test_mg_build_line_matches_numpy_build_and_twin(shape):
    """The compiled hierarchy of a 2-D periodic section: bit for bit the NumPy build of
    mscabm.diffusion (any axes), and its own twin to 1e-12."""
    from mscabm import diffusion as diffusion_module

    rng = np.random.default_rng(sum(shape))
    nz = shape[0]
    surface = rng.integers(int(0.5 * nz), nz - 1, size=shape[1:])
    z = np.arange(nz)[:, None]
    d = np.where(z > surface, 0.0, np.where(z > surface - 2, 30.0, 3000.0))
    d[(nz // 3, min(1, shape[1] - 1))] = 0.0  # a closed voxel inside the tissue
    d = np.stack([d, 1.7 * d])
    base = 1.0 + 6.0 * (0.02 + np.where(rng.random((2, *shape)) < 0.1, 0.5, 0.0))
    base[1, 0] += 0.6 * d[1, 0] / 100.0  # a fixed bottom on the second set
    solver = FieldSolver(shape, 10.0, 6.0, 1)
    tables = solver._multigrid_tables()
    scale = 6.0 / 100.0
    compiled = _kernels.field_mg_build_line(d, base, scale, tables["level_cols"])
    numpy_build = diffusion_module._numpy_hierarchy(d, base, scale, shape[1:], "periodic", tables)
    twin = _reference.field_mg_build_line(d, base, scale, tables["level_cols"])
    for got, want, other in zip(compiled, numpy_build, twin, strict=True):
        assert got.shape == want.shape == other.shape
        assert np.array_equal(got, want)
        if got.dtype == np.uint8:
            assert np.array_equal(got, other)
        else:
            assert rel_err(got, other) < 1e-12
    with pytest.raises(ValueError, match="level_cols"):
        _kernels.field_mg_build_line(d, base, scale, np.array([shape[1]] * 2, dtype=np.int64))


@pytest.mark.parametrize("shape", [(12, 9), (7, 16), (9, 2), (30, 37), (20, 200)])
def test_mg_build_line_partial_rebuild_equals_full_build(shape):
    """Rebuilding only the changed columns into the last build's buffers gives the full
    build bit for bit: changes at the wrap-around columns, in the middle, in one set only,
    opening and closing voxels; no change at all; all columns changed."""
    rng = np.random.default_rng(shape[1])
    nz, nc = shape
    tables = FieldSolver(shape, 10.0, 6.0, 1)._multigrid_tables()
    cols = tables["level_cols"]
    scale = 0.06

    def inputs(surface):
        z = np.arange(nz)[:, None]
        d = np.where(z > surface, 0.0, np.where(z > surface - 2, 30.0, 3000.0))
        d = np.stack([d, 1.7 * d, 0.5 * d])
        base = 1.0 + 6.0 * (0.02 + 0.3 * (d == 30.0))
        return d, base

    surface = rng.integers(nz // 2, nz - 1, size=nc)
    d, base = inputs(surface)
    n_total = int(cols.sum())
    out = (np.empty((3, nz, n_total)), np.empty((3, nz, n_total)),
           np.empty((3, 1, nz, n_total)), np.empty((3, nz, n_total)),
           np.empty((3, nz, nc), dtype=np.uint8), np.empty(2 * 3 * nz * n_total))  # fmt: skip
    _kernels.field_mg_build_line(d, base, scale, cols, out=out)
    edits = [[0], [nc - 1], [nc // 2], sorted({0, nc // 3, nc - 1}), list(range(nc))]
    for columns in [*edits, []]:
        new_surface = surface.copy()
        new_surface[columns] = np.clip(new_surface[columns] + rng.choice([-2, 1, 3]), 1, nz - 1)
        new_d, new_base = inputs(new_surface)
        if columns:  # a change in one set only, and a closed voxel opened in another
            new_base[1, 0, columns[0]] += 0.25
            new_d[2, nz - 1, columns[-1]] = 3000.0
        changed = np.any(new_d != d, axis=(0, 1)) | np.any(new_base != base, axis=(0, 1))
        partial = _kernels.field_mg_build_line(new_d, new_base, scale, cols, out=out,
                                               changed=changed)  # fmt: skip
        full = _kernels.field_mg_build_line(new_d, new_base, scale, cols)
        for got, want in zip(partial, full, strict=True):
            assert np.array_equal(got, want)
        d, base, surface = new_d, new_base, new_surface
    with pytest.raises(ValueError, match="changed needs out"):
        _kernels.field_mg_build_line(d, base, scale, cols, changed=np.ones(nc, dtype=bool))


def test_avx2_build_gives_the_baseline_bits(monkeypatch):
    """The field kernels compiled with -mavx2 (used when the CPU has AVX2) give the baseline
    build's bits: lanes and single fields on a 2-D periodic section, the table-driven path
    (no-flux, 3-D) and the layered direct solver, through FieldSolver steps."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the AVX2 build exists on x86-64 only")
    from mscabm import _fields, _fields_avx2  # built on x86-64 (setup.py)

    if not _kernels._cpu_has_avx2():
        pytest.skip("this CPU has no AVX2: the AVX2 build cannot run here")
    assert _kernels._field_kernels_module(None)[1] == "avx2"
    assert _kernels._field_kernels_module("baseline") == (_fields, "baseline")
    with pytest.raises(ValueError, match="MSCABM_FIELDS_SIMD"):
        _kernels._field_kernels_module("avx512")
    rng = np.random.default_rng(21)
    cases = [((24, 37), "periodic", 7), ((10, 8), "no_flux", 3), ((8, 5, 6), "periodic", 3)]
    for shape, lateral_bc, n_fields in cases:
        diffusion, decay = skin_coefficients(shape, seed=5)
        # two coefficient sets: most fields share the first (lanes), one has the second
        sets = np.zeros(n_fields, dtype=np.int64)
        sets[1] = 1
        solvers = {}
        for name, module in (("baseline", _fields), ("avx2", _fields_avx2)):
            monkeypatch.setattr(_kernels, "_fields_ext", module)
            solver = FieldSolver(shape, 10.0, 6.0, n_fields, lateral_bc=lateral_bc, rtol=1e-8)
            solver.set_coefficients(
                np.stack([diffusion, 0.5 * diffusion]), np.stack([decay, decay]), sets
            )
            assert solver._mode == "general"
            solvers[name] = solver
        start = rng.uniform(0, 1, (n_fields, *shape))
        source = rng.uniform(0, 1, (n_fields, *shape))
        results = {}
        for name, module in (("baseline", _fields), ("avx2", _fields_avx2)):
            monkeypatch.setattr(_kernels, "_fields_ext", module)
            conc = start.copy()
            for _ in range(3):
                solvers[name].step(conc, source)
            results[name] = (conc, solvers[name].last_iterations.copy())
        assert np.array_equal(results["baseline"][0], results["avx2"][0])
        assert np.array_equal(results["baseline"][1], results["avx2"][1])
        assert np.all(results["avx2"][1] > 0)
    # the layered (direct) path
    layered = {}
    for name, module in (("baseline", _fields), ("avx2", _fields_avx2)):
        monkeypatch.setattr(_kernels, "_fields_ext", module)
        solver = FieldSolver((20, 16), 10.0, 6.0, 2, lateral_bc="no_flux")
        solver.set_coefficients(np.array([[3000.0] * 20, [900.0] * 20]), np.array([0.02, 0.1]))
        conc = np.ones((2, 20, 16))
        conc[:, 5, 3] = 50.0
        solver.step(conc, None)
        layered[name] = conc
    assert np.array_equal(layered["baseline"], layered["avx2"])
