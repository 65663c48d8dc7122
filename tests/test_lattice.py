"""Lattice kernels and grid geometry: hand-worked cases, kernel vs twin (exact), threads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mscabm import _kernels, _reference
from mscabm.grid import Grid

REPO = Path(__file__).resolve().parents[1]


def i64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def f64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


# --- Grid -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "connectivity", "count"),
    [((4, 5), "von_neumann", 4), ((4, 5), "moore", 8), ((3, 4, 5), "von_neumann", 6),
     ((3, 4, 5), "moore", 26)],
)  # fmt: skip
def test_offsets_point_at_the_neighbours(shape, connectivity, count):
    grid = Grid(shape)
    offsets = grid.offsets(connectivity)
    assert offsets.dtype == np.int64
    assert offsets.shape == (count,)
    assert np.all(np.diff(offsets) > 0)
    with_centre = grid.offsets(connectivity, include_centre=True)
    assert sorted([*offsets.tolist(), 0]) == with_centre.tolist()
    centre = tuple(s // 2 for s in grid.padded_shape)
    flat = np.ravel_multi_index(centre, grid.padded_shape)
    coords = np.array(np.unravel_index(flat + offsets, grid.padded_shape)).T - np.array(centre)
    distance = np.abs(coords).sum(axis=1)
    assert np.all(np.abs(coords).max(axis=1) == 1)
    if connectivity == "von_neumann":
        assert np.all(distance == 1)


def test_offsets_2d_by_hand():
    # padded shape (5, 6): a row of the padded array is 6 long
    assert Grid((3, 4)).offsets().tolist() == [-6, -1, 1, 6]
    assert Grid((3, 4)).offsets("moore").tolist() == [-7, -6, -5, -1, 1, 5, 6, 7]


def test_grid_properties():
    grid = Grid((5, 3, 4), "no_flux")
    assert grid.ndim == 3
    assert grid.n_z == 5
    assert grid.n_columns == 12
    assert grid.n_voxels == 60
    assert grid.padded_shape == (7, 5, 6)
    assert grid.n_padded == 210
    assert grid.lateral_shape == (3, 4)
    assert Grid([4, 7]).shape == (4, 7)


@pytest.mark.parametrize(
    "kwargs",
    [{"shape": (4,)}, {"shape": (1, 2, 3, 4)}, {"shape": (0, 3)}, {"shape": (3.5, 2)},
     {"shape": (3, 4), "lateral_bc": "wrap"}, {"shape": "ab"}],
)  # fmt: skip
def test_bad_grids_are_rejected(kwargs):
    with pytest.raises(ValueError, match=r"shape|lateral_bc"):
        Grid(**kwargs)


def test_pad_periodic_and_no_flux_2d_by_hand():
    values = np.array([[1, 2, 3], [4, 5, 6]])
    periodic = Grid((2, 3), "periodic").pad(values)
    assert periodic.tolist() == [
        [3, 1, 2, 3, 1],
        [3, 1, 2, 3, 1],
        [6, 4, 5, 6, 4],
        [6, 4, 5, 6, 4],
    ]
    no_flux = Grid((2, 3), "no_flux").pad(values, fill=0)
    assert no_flux.tolist() == [
        [0, 0, 0, 0, 0],
        [1, 1, 2, 3, 3],
        [4, 4, 5, 6, 6],
        [0, 0, 0, 0, 0],
    ]
    assert no_flux.dtype == values.dtype
    with pytest.raises(ValueError, match="shape"):
        Grid((3, 3)).pad(values)
    with pytest.raises(ValueError, match="fill"):
        Grid((2, 3)).pad(values, fill="zero")


def test_pad_3d_matches_wrap_and_edge_rules():
    gen = np.random.default_rng(0)
    values = gen.random((3, 4, 5))
    grid = Grid((3, 4, 5), "periodic")
    padded = grid.pad(values, fill=-1.0)
    np.testing.assert_array_equal(grid.unpad(padded), values)
    np.testing.assert_array_equal(padded[1:-1, 0, 1:-1], values[:, -1, :])
    np.testing.assert_array_equal(padded[1:-1, 1:-1, -1], values[:, :, 0])
    np.testing.assert_array_equal(padded[1:-1, 0, 0], values[:, -1, -1])
    assert np.all(padded[0] == -1.0)
    assert np.all(padded[-1] == -1.0)
    edge = Grid((3, 4, 5), "no_flux").pad(values)
    np.testing.assert_array_equal(edge[0, 1:-1, 1:-1], values[0])
    np.testing.assert_array_equal(edge[1:-1, 1:-1, 0], values[:, :, 0])
    np.testing.assert_array_equal(edge[-1, 0, -1], values[-1, 0, -1])


@pytest.mark.parametrize("shape", [(4, 6), (3, 4, 5)])
def test_padded_index_column_and_z(shape):
    grid = Grid(shape)
    values = np.arange(grid.n_voxels).reshape(shape)
    flat = np.arange(grid.n_voxels)
    padded = grid.pad(values).ravel()
    np.testing.assert_array_equal(padded[grid.padded_index(flat)], flat)
    np.testing.assert_array_equal(grid.z_of(flat), np.repeat(np.arange(shape[0]), grid.n_columns))
    columns = np.tile(np.arange(grid.n_columns), shape[0])
    np.testing.assert_array_equal(grid.column_of(flat), columns)
    np.testing.assert_array_equal(grid.flat_index(grid.z_of(flat), grid.column_of(flat)), flat)
    with pytest.raises(ValueError, match="voxel indices"):
        grid.padded_index([grid.n_voxels])
    with pytest.raises(ValueError, match="integers"):
        grid.z_of([1.5])


# --- stack_order ----------------------------------------------------------------------------


def test_stack_order_by_hand():
    column = i64([2, 0, 2, 0, 1, 2])
    key = f64([5.0, 3.0, 1.0, 3.0, 0.0, 5.0])
    rows, col_start = _kernels.stack_order(column, key, 4)
    # column 0: rows 1, 3 (tie keeps row order); column 1: row 4; column 2: rows 2, 0, 5
    assert rows.tolist() == [1, 3, 4, 2, 0, 5]
    assert col_start.tolist() == [0, 2, 3, 6, 6]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stack_order_matches_lexsort(seed):
    gen = np.random.default_rng(seed)
    n_columns = 40
    # a few very tall columns (merge path), many short ones, empty ones, many ties
    column = np.concatenate([gen.integers(0, 30, size=600), np.full(200, 31), np.full(77, 35)])
    column = gen.permutation(column).astype(np.int64)
    key = np.round(gen.random(column.size) * 20.0).astype(np.float64)
    key[gen.random(key.size) < 0.05] = -0.0
    rows, col_start = _kernels.stack_order(column, key, n_columns)
    twin_rows, twin_start = _reference.stack_order(column, key, n_columns)
    np.testing.assert_array_equal(rows, twin_rows)
    np.testing.assert_array_equal(col_start, twin_start)
    assert rows.dtype == np.int64
    assert col_start.dtype == np.int64


def test_stack_order_validation():
    with pytest.raises(ValueError, match="column must be in"):
        _kernels.stack_order(i64([0, 3]), f64([0, 0]), 3)
    with pytest.raises(ValueError, match="NaN"):
        _kernels.stack_order(i64([0, 1]), f64([0, np.nan]), 3)
    with pytest.raises(ValueError, match="shape"):
        _kernels.stack_order(i64([0, 1]), f64([0]), 3)
    rows, col_start = _kernels.stack_order(i64([]), f64([]), 2)
    assert rows.tolist() == []
    assert col_start.tolist() == [0, 0, 0]


# --- stack_columns --------------------------------------------------------------------------


def three_columns():
    """Column 0: rows 4 (5 um) below 1 (7 um) on a membrane at 10 um; column 1 empty at 12 um;
    column 2: row 2 (8 um) at 11 um. Rows 0 and 3 belong to no column."""
    col_start = i64([0, 2, 2, 3])
    rows = i64([4, 1, 2])
    height = f64([99.0, 7.0, 8.0, 99.0, 5.0])
    bm = f64([10.0, 12.0, 11.0])
    return col_start, rows, height, bm


def test_stack_columns_by_hand():
    col_start, rows, height, bm = three_columns()
    z_bottom, top = _kernels.stack_columns(col_start, rows, height, bm)
    assert z_bottom.tolist() == [0.0, 15.0, 11.0, 0.0, 10.0]
    assert top.tolist() == [22.0, 12.0, 19.0]
    twin_bottom, twin_top = _reference.stack_columns(col_start, rows, height, bm)
    assert z_bottom.tobytes() == twin_bottom.tobytes()
    assert top.tobytes() == twin_top.tobytes()


def test_shoving_a_daughter_in_above_its_mother():
    # column of rows [0, 1, 2] (heights 5, 6, 7) on bm 0; row 3 (height 4) is row 0's daughter
    height = f64([5.0, 6.0, 7.0, 4.0])
    before, _ = _kernels.stack_columns(i64([0, 3]), i64([0, 1, 2]), height, f64([0.0]))
    assert before.tolist() == [0.0, 5.0, 11.0, 0.0]
    after, top = _kernels.stack_columns(i64([0, 4]), i64([0, 3, 1, 2]), height, f64([0.0]))
    assert after.tolist() == [0.0, 9.0, 15.0, 5.0]
    assert top.tolist() == [22.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stack_columns_matches_twin_exactly(seed):
    gen = np.random.default_rng(seed)
    n_rows_total, n_columns = 3000, 250
    listed = gen.random(n_rows_total) < 0.9
    column = gen.integers(0, n_columns, size=n_rows_total)
    column[:60] = 7  # one tall column
    key = gen.random(n_rows_total)
    rows_all, start_all = _kernels.stack_order(column[listed].astype(np.int64), key[listed],
                                               n_columns)  # fmt: skip
    rows = np.flatnonzero(listed)[rows_all].astype(np.int64)
    height = gen.uniform(3.0, 14.0, size=n_rows_total)
    bm = gen.uniform(20.0, 60.0, size=n_columns)
    z_bottom, top = _kernels.stack_columns(start_all, rows, height, bm)
    twin_bottom, twin_top = _reference.stack_columns(start_all, rows, height, bm)
    assert z_bottom.tobytes() == twin_bottom.tobytes()
    assert top.tobytes() == twin_top.tobytes()
    assert np.all(z_bottom[~listed] == 0.0)


def test_stack_columns_validation():
    col_start, rows, height, bm = three_columns()
    with pytest.raises(ValueError, match="col_start"):
        _kernels.stack_columns(i64([0, 2, 1, 3]), rows, height, bm)
    with pytest.raises(ValueError, match="twice"):
        _kernels.stack_columns(col_start, i64([4, 4, 2]), height, bm)
    with pytest.raises(ValueError, match="rows must be in"):
        _kernels.stack_columns(col_start, i64([4, 5, 2]), height, bm)
    with pytest.raises(ValueError, match="bm_height_um"):
        _kernels.stack_columns(col_start, rows, height, f64([1.0, 2.0]))
    with pytest.raises(ValueError, match="height_um"):
        _kernels.stack_columns(col_start, rows, f64([1, -1, 1, 1, 1]), bm)
    with pytest.raises(ValueError, match="dtype int64"):
        _kernels.stack_columns(col_start.astype(np.int32), rows, height, bm)


# --- rasterize_columns ----------------------------------------------------------------------


def test_rasterize_by_hand():
    # two columns, voxels of 10 um, 4 layers (centres 5, 15, 25, 35; grid top 40);
    # bottoms are inclusive and tops exclusive:
    # column 0: row 0 [5, 25) covers 5 and 15; row 1 [25, 35) covers 25 but not 35
    # column 1: row 2 [30, 47) covers 35 (45 lies outside the grid, so it sticks out)
    z_bottom = f64([5.0, 25.0, 30.0])
    height = f64([20.0, 10.0, 17.0])
    code = np.array([3, 4, 5], dtype=np.uint8)
    tissue = np.full(8, 9, dtype=np.uint8)
    owner = np.full(8, -1, dtype=np.int64)
    outside = _kernels.rasterize_columns(i64([0, 2, 3]), i64([0, 1, 2]), z_bottom, height, code,
                                         10.0, 4, tissue, owner)  # fmt: skip
    assert tissue.reshape(4, 2).T.tolist() == [[3, 3, 4, 9], [9, 9, 9, 5]]
    assert owner.reshape(4, 2).T.tolist() == [[0, 0, 1, -1], [-1, -1, -1, 2]]
    assert outside == 1


def test_rasterize_three_columns_by_hand():
    col_start, rows, height, bm = three_columns()
    z_bottom, _ = _kernels.stack_columns(col_start, rows, height, bm)
    code = np.array([0, 7, 8, 0, 6], dtype=np.uint8)
    tissue = np.zeros(3 * 3, dtype=np.uint8)
    owner = np.full(3 * 3, -1, dtype=np.int64)
    # voxel 6 um, 3 layers: centres 3, 9, 15 (grid top 18, column 0's top 22 sticks out)
    outside = _kernels.rasterize_columns(col_start, rows, z_bottom, height, code, 6.0, 3,
                                         tissue, owner)  # fmt: skip
    # column 0: row 4 [10, 15) -> none; row 1 [15, 22) -> centre 15. column 2: [11, 19) -> 15
    assert tissue.reshape(3, 3).tolist() == [[0, 0, 0], [0, 0, 0], [7, 0, 8]]
    assert owner.reshape(3, 3).tolist() == [[-1, -1, -1], [-1, -1, -1], [1, -1, 2]]
    assert outside == 2


@pytest.mark.parametrize(
    ("seed", "shape", "voxel_um"), [(0, (12, 40), 10.0), (1, (9, 6, 7), 7.3), (2, (6, 5, 5), 2.5)]
)
def test_rasterize_matches_twin_exactly(seed, shape, voxel_um):
    gen = np.random.default_rng(seed)
    grid = Grid(shape)
    n_columns, n_z = grid.n_columns, grid.n_z
    n_rows_total = n_columns * 8
    column = gen.integers(0, n_columns, size=n_rows_total).astype(np.int64)
    rows, col_start = _kernels.stack_order(column, gen.random(n_rows_total), n_columns)
    # half the heights are whole voxels so cell boundaries land exactly on voxel centres
    height = np.where(gen.random(n_rows_total) < 0.5, voxel_um,
                      gen.uniform(0.0, 2.0 * voxel_um, n_rows_total))  # fmt: skip
    bm = np.where(gen.random(n_columns) < 0.5, 0.5 * voxel_um,
                  gen.uniform(-voxel_um, 3.0 * voxel_um, n_columns))  # fmt: skip
    z_bottom, _ = _kernels.stack_columns(col_start, rows, height, bm)
    code = gen.integers(1, 250, size=n_rows_total).astype(np.uint8)
    start = gen.integers(0, 2, size=grid.n_voxels)
    tissue, owner = start.astype(np.uint8), start.astype(np.int64) - 5
    twin_tissue, twin_owner = tissue.copy(), owner.copy()
    outside = _kernels.rasterize_columns(col_start, rows, z_bottom, height, code, voxel_um, n_z,
                                         tissue, owner)  # fmt: skip
    twin_outside = _reference.rasterize_columns(col_start, rows, z_bottom, height, code,
                                                voxel_um, n_z, twin_tissue, twin_owner)  # fmt: skip
    np.testing.assert_array_equal(tissue, twin_tissue)
    np.testing.assert_array_equal(owner, twin_owner)
    assert outside == twin_outside
    assert outside > 0  # the random stacks are taller than the grid somewhere
    assert np.count_nonzero(owner >= 0) > grid.n_voxels // 4


def test_rasterize_validation():
    col_start, rows, height, bm = three_columns()
    z_bottom, _ = _kernels.stack_columns(col_start, rows, height, bm)
    code = np.zeros(5, dtype=np.uint8)
    tissue = np.zeros(9, dtype=np.uint8)
    owner = np.zeros(9, dtype=np.int64)
    with pytest.raises(ValueError, match="voxel_um"):
        _kernels.rasterize_columns(col_start, rows, z_bottom, height, code, 0.0, 3, tissue, owner)
    with pytest.raises(ValueError, match="tissue"):
        _kernels.rasterize_columns(col_start, rows, z_bottom, height, code, 6.0, 4, tissue, owner)
    read_only = np.zeros(9, dtype=np.int64)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _kernels.rasterize_columns(col_start, rows, z_bottom, height, code, 6.0, 3, tissue,
                                   read_only)  # fmt: skip


# --- move_with_exclusion --------------------------------------------------------------------


def test_two_moves_into_one_place_first_in_order_wins():
    occupancy = np.array([1, 1, 0], dtype=np.int32)
    capacity = np.ones(3, dtype=np.int32)
    args = (i64([0, 1]), i64([2, 2]))
    accepted = _kernels.move_with_exclusion(i64([0, 1]), *args, occupancy, capacity)
    assert accepted.tolist() == [1, 0]
    assert occupancy.tolist() == [0, 1, 1]
    occupancy = np.array([1, 1, 0], dtype=np.int32)
    accepted = _kernels.move_with_exclusion(i64([1, 0]), *args, occupancy, capacity)
    assert accepted.tolist() == [0, 1]
    assert occupancy.tolist() == [1, 0, 1]


def test_move_into_a_place_being_vacated_depends_on_order():
    # move 0: voxel 1 -> 2 (free); move 1: voxel 0 -> 1 (full until move 0 happens)
    capacity = np.ones(3, dtype=np.int32)
    occupancy = np.array([1, 1, 0], dtype=np.int32)
    accepted = _kernels.move_with_exclusion(i64([0, 1]), i64([1, 0]), i64([2, 1]), occupancy,
                                            capacity)  # fmt: skip
    assert accepted.tolist() == [1, 1]
    assert occupancy.tolist() == [0, 1, 1]
    occupancy = np.array([1, 1, 0], dtype=np.int32)
    accepted = _kernels.move_with_exclusion(i64([1, 0]), i64([1, 0]), i64([2, 1]), occupancy,
                                            capacity)  # fmt: skip
    assert accepted.tolist() == [1, 0]
    assert occupancy.tolist() == [1, 0, 1]


def test_capacity_above_one_and_entry_from_outside():
    occupancy = np.array([0, 2], dtype=np.int32)
    capacity = np.array([0, 3], dtype=np.int32)
    accepted = _kernels.move_with_exclusion(i64([2, 0, 1]), i64([-1, -1, -1]), i64([1, 1, 0]),
                                            occupancy, capacity)  # fmt: skip
    # move 2 (into voxel 0, capacity 0) fails, move 0 fills voxel 1, move 1 finds it full
    assert accepted.tolist() == [1, 0, 0]
    assert occupancy.tolist() == [0, 3]
    assert accepted.dtype == np.uint8


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_moves_match_twin_exactly(seed):
    gen = np.random.default_rng(seed)
    n_voxels, m = 300, 2000
    capacity = gen.integers(0, 4, size=n_voxels).astype(np.int32)
    occupancy = np.minimum(capacity, gen.integers(0, 4, size=n_voxels)).astype(np.int32)
    from_voxel = gen.integers(-1, n_voxels, size=m).astype(np.int64)
    to_voxel = gen.integers(0, n_voxels, size=m).astype(np.int64)
    order = gen.permutation(m).astype(np.int64)
    twin_occupancy = occupancy.copy()
    accepted = _kernels.move_with_exclusion(order, from_voxel, to_voxel, occupancy, capacity)
    twin = _reference.move_with_exclusion(order, from_voxel, to_voxel, twin_occupancy, capacity)
    np.testing.assert_array_equal(accepted, twin)
    np.testing.assert_array_equal(occupancy, twin_occupancy)
    assert 0 < accepted.sum() < m


def test_move_validation():
    occupancy = np.zeros(3, dtype=np.int32)
    capacity = np.ones(3, dtype=np.int32)
    with pytest.raises(ValueError, match="permutation"):
        _kernels.move_with_exclusion(i64([0, 0]), i64([0, 1]), i64([1, 2]), occupancy, capacity)
    with pytest.raises(ValueError, match="from_voxel"):
        _kernels.move_with_exclusion(i64([0, 1]), i64([-2, 1]), i64([1, 2]), occupancy, capacity)
    with pytest.raises(ValueError, match="to_voxel"):
        _kernels.move_with_exclusion(i64([0, 1]), i64([0, 1]), i64([1, 3]), occupancy, capacity)
    with pytest.raises(ValueError, match="dtype int32"):
        _kernels.move_with_exclusion(i64([0]), i64([0]), i64([1]), occupancy.astype(np.int64),
                                     capacity)  # fmt: skip


# --- neighbour_count ------------------------------------------------------------------------

HAND_VALUES = np.array([[1, 0, 2], [0, 1, 0], [3, 0, 1]], dtype=np.int32)


@pytest.mark.parametrize(
    ("lateral_bc", "fill", "connectivity", "voxel", "expected"),
    [
        ("no_flux", "edge", "von_neumann", (1, 1), 0),
        ("no_flux", "edge", "moore", (1, 1), 7),  # 1 + 0 + 2 + 0 + 0 + 3 + 0 + 1
        ("no_flux", "edge", "von_neumann", (0, 0), 2),  # ghost below = 1, ghost left = 1
        ("periodic", "edge", "von_neumann", (0, 0), 3),  # below 1, left wraps to 2
        ("periodic", 0, "von_neumann", (0, 0), 2),  # below 0, left wraps to 2
        ("periodic", 0, "moore", (2, 2), 4),  # (1,1)=1 + (2,0) wrapped=3, the rest 0
    ],
)
def test_neighbour_count_by_hand(lateral_bc, fill, connectivity, voxel, expected):
    grid = Grid((3, 3), lateral_bc)
    padded = np.ascontiguousarray(grid.pad(HAND_VALUES, fill=fill)).ravel()
    query = grid.padded_index([np.ravel_multi_index(voxel, grid.shape)])
    counts = _kernels.neighbour_count(padded, query, grid.offsets(connectivity))
    assert counts.tolist() == [expected]
    assert counts.dtype == np.int32


def test_neighbour_count_3d_single_occupant():
    grid = Grid((3, 3, 3), "no_flux")
    values = np.zeros(grid.shape, dtype=np.int32)
    values[1, 1, 1] = 1
    padded = grid.pad(values, fill=0).ravel()
    counts = _kernels.neighbour_count(padded, grid.padded_index(np.arange(27)), grid.offsets())
    assert counts.sum() == 6
    faces = [np.ravel_multi_index(v, grid.shape) for v in
             [(0, 1, 1), (2, 1, 1), (1, 0, 1), (1, 2, 1), (1, 1, 0), (1, 1, 2)]]  # fmt: skip
    assert sorted(np.flatnonzero(counts).tolist()) == sorted(faces)


@pytest.mark.parametrize(("seed", "shape", "bc"), [(0, (10, 17), "periodic"),
                                                  (1, (6, 7, 8), "no_flux"),
                                                  (2, (5, 4, 9), "periodic")])  # fmt: skip
@pytest.mark.parametrize("connectivity", ["von_neumann", "moore"])
def test_neighbour_count_matches_twin_exactly(seed, shape, bc, connectivity):
    gen = np.random.default_rng(seed)
    grid = Grid(shape, bc)
    values = gen.integers(0, 3, size=shape).astype(np.int32)
    padded = grid.pad(values, fill=0).ravel()
    query = grid.padded_index(gen.integers(0, grid.n_voxels, size=500))
    offsets = grid.offsets(connectivity, include_centre=bool(seed % 2))
    counts = _kernels.neighbour_count(padded, query, offsets)
    np.testing.assert_array_equal(counts, _reference.neighbour_count(padded, query, offsets))


def test_neighbour_count_rejects_queries_reaching_outside():
    grid = Grid((3, 3))
    padded = grid.pad(HAND_VALUES).ravel()
    with pytest.raises(ValueError, match="outside"):
        _kernels.neighbour_count(padded, i64([0]), grid.offsets())
    with pytest.raises(ValueError, match="dtype int32"):
        _kernels.neighbour_count(padded.astype(np.int64), i64([6]), grid.offsets())


# --- thread-count independence ------------------------------------------------------------

THREAD_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    from mscabm import _kernels
    from mscabm.grid import Grid
    gen = np.random.default_rng(5)
    grid = Grid((40, 30, 50))
    n_rows = grid.n_columns * 30
    column = gen.integers(0, grid.n_columns, size=n_rows).astype(np.int64)
    rows, col_start = _kernels.stack_order(column, np.round(gen.random(n_rows) * 9), grid.n_columns)
    height = gen.uniform(0.5, 3.0, size=n_rows)
    bm = gen.uniform(0, 5, grid.n_columns)
    z_bottom, top = _kernels.stack_columns(col_start, rows, height, bm)
    tissue = np.zeros(grid.n_voxels, np.uint8)
    owner = np.full(grid.n_voxels, -1, np.int64)
    code = gen.integers(0, 255, n_rows).astype(np.uint8)
    outside = _kernels.rasterize_columns(col_start, rows, z_bottom, height, code, 1.5, grid.n_z,
                                         tissue, owner)
    values = grid.pad(gen.integers(0, 5, grid.shape).astype(np.int32)).ravel()
    counts = _kernels.neighbour_count(values, grid.padded_index(np.arange(grid.n_voxels)),
                                      grid.offsets("moore"))
    occupancy = gen.integers(0, 2, grid.n_voxels).astype(np.int32)
    m = 20000
    accepted = _kernels.move_with_exclusion(
        gen.permutation(m).astype(np.int64), gen.integers(0, grid.n_voxels, m),
        gen.integers(0, grid.n_voxels, m), occupancy, np.ones(grid.n_voxels, np.int32))
    outputs = [rows, col_start, z_bottom, top, tissue, owner, np.array([outside]), counts,
               accepted, occupancy]
    print(" ".join(hashlib.sha256(o.tobytes()).hexdigest() for o in outputs))
    """
)


def run_with_threads(n_threads: int) -> str:
    env = dict(os.environ, OMP_NUM_THREADS=str(n_threads), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", THREAD_SCRIPT], env=env, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    return done.stdout.strip()


def test_bit_identical_with_one_or_two_threads():
    one = run_with_threads(1)
    assert len(one.split()) == 10
    assert one == run_with_threads(2)


# --- per-cell rates onto voxels (scatter_rates) ---------------------------------------------


def test_scatter_rates_by_hand():
    out = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    values = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])  # cells 0 and 2 share voxel 2
    voxels = np.array([2, 0, 2])
    _kernels.scatter_rates(out, np.array([1, 0]), values, np.array([0, 1]), voxels, 0.5)
    # row 1 gets column 0: voxel 0: 2 * 0.5; voxel 2: (1 + 4) * 0.5; voxel 1 untouched
    # row 0 gets column 1: 1 + 20 * 0.5, 1, 1 + (10 + 40) * 0.5
    assert out.tolist() == [[11.0, 1.0, 26.0], [1.0, 0.0, 2.5]]


@pytest.mark.parametrize("seed", range(5))
def test_scatter_rates_matches_its_twin(seed):
    rng = np.random.default_rng(seed)
    n_voxels, n_cells, n_columns = int(rng.integers(1, 50)), int(rng.integers(0, 200)), 6
    values = rng.normal(size=(n_cells, n_columns)) * (rng.random((n_cells, n_columns)) < 0.7)
    voxels = rng.integers(0, n_voxels, n_cells).astype(np.int64)
    rows = rng.permutation(4)[: int(rng.integers(0, 5))].astype(np.int64)
    columns = rng.integers(0, n_columns, rows.size).astype(np.int64)
    start = rng.normal(size=(4, n_voxels))
    got, want = start.copy(), start.copy()
    _kernels.scatter_rates(got, rows, values, columns, voxels, 0.37)
    _reference.scatter_rates(want, rows, values, columns, voxels, 0.37)
    assert np.array_equal(got, want)
    if n_cells and rows.size:  # the kernel wrote something (the comparison could fail)
        assert not np.array_equal(got, start) or not values[:, columns].any()


def test_scatter_rates_rejects_bad_input():
    out, values = np.zeros((2, 3)), np.ones((2, 2))
    rows, columns, voxels = np.array([0]), np.array([1]), np.array([0, 2])
    cases = [
        ((out, np.array([2]), values, columns, voxels, 1.0), "out_rows must be in"),
        ((out, np.array([0, 0]), values, np.array([0, 1]), voxels, 1.0), "repeat"),
        ((out, rows, values, np.array([2]), voxels, 1.0), "value_columns must be in"),
        ((out, rows, values, columns, np.array([0, 3]), 1.0), "voxels must be in"),
        ((out, rows, values, columns, voxels, np.nan), "finite"),
        ((out, rows, values, np.array([0, 1]), voxels, 1.0), "value_columns must have shape"),
        ((out.astype(np.float32), rows, values, columns, voxels, 1.0), "dtype float64"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            _kernels.scatter_rates(*args)
    frozen = out.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _kernels.scatter_rates(frozen, rows, values, columns, voxels, 1.0)
