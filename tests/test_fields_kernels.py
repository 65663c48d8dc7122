"""Field-solver kernels (cext/fields.pyx) against their NumPy twins and hand-worked cases."""

import numpy as np
import pytest

from mscabm import _kernels, _reference

KERNEL_NAMES = [
    "field_operator_apply",
    "field_dot",
    "field_cg_update",
    "field_cg_direction",
    "tridiagonal_factor",
    "tridiagonal_solve",
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
