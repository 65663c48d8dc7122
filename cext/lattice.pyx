# cython: language_level=3
"""Lattice kernels: column stacks, rasterisation, moves with exclusion, neighbour counts, and the
scatter of per-cell rates onto voxels.

Wrapped by ``mscabm._kernels`` (which validates ranges, so the loops need no checks); twins in
``mscabm._reference``. Voxel index on the unpadded grid is ``z * n_columns + c``.

Loops that run in parallel (``prange``) touch disjoint outputs (one column or one query each),
and the only reduction is an integer count, so results do not depend on the thread count.
``move_with_exclusion`` is sequential by design: moves compete for space in the caller's order.
"""

from cython.parallel cimport prange

# below this many items a loop runs on one thread (OpenMP start-up and barriers cost more)
cdef Py_ssize_t PARALLEL_MIN_WORK = 20000
from libc.math cimport floor
from libc.stdint cimport int32_t, int64_t, uint8_t


cdef void _stable_sort_rows_by_key(int64_t* rows, int64_t* buffer, const double* key,
                                   Py_ssize_t n) noexcept nogil:
    """Sort ``rows[0:n]`` stably by ``key[row]``; ``buffer`` is scratch of length n."""
    cdef Py_ssize_t i, j, width, lo, mid, hi, left, right, out
    cdef int64_t row
    cdef double row_key
    cdef int64_t* source
    cdef int64_t* target
    cdef int64_t* swap
    if n <= 32:  # insertion sort: short columns are the common case
        for i in range(1, n):
            row = rows[i]
            row_key = key[row]
            j = i
            while j > 0 and key[rows[j - 1]] > row_key:
                rows[j] = rows[j - 1]
                j -= 1
            rows[j] = row
        return
    source = rows
    target = buffer
    width = 1
    while width < n:
        lo = 0
        while lo < n:
            mid = lo + width if lo + width < n else n
            hi = lo + 2 * width if lo + 2 * width < n else n
            left = lo
            right = mid
            out = lo
            while left < mid and right < hi:
                if key[source[right]] < key[source[left]]:
                    target[out] = source[right]
                    right += 1
                else:  # ties take the left run first: stable
                    target[out] = source[left]
                    left += 1
                out += 1
            while left < mid:
                target[out] = source[left]
                left += 1
                out += 1
            while right < hi:
                target[out] = source[right]
                right += 1
                out += 1
            lo = hi
        swap = source
        source = target
        target = swap
        width = 2 * width
    if source != rows:
        for i in range(n):
            rows[i] = source[i]


def stack_order(const int64_t[::1] column, const double[::1] key, int64_t[::1] rows,
                int64_t[::1] col_start, int64_t[::1] cursor, int64_t[::1] buffer):
    """Stable counting sort of rows by column, then a stable sort by key within each column.

    ``col_start`` (length n_columns + 1) must arrive zeroed; ``cursor`` (n_columns) and
    ``buffer`` (n) are scratch.
    """
    cdef Py_ssize_t n = column.shape[0]
    cdef Py_ssize_t n_columns = cursor.shape[0]
    cdef Py_ssize_t i, c
    with nogil:
        for i in range(n):
            col_start[column[i] + 1] += 1
        for c in range(n_columns):
            col_start[c + 1] += col_start[c]
            cursor[c] = col_start[c]
        for i in range(n):
            c = column[i]
            rows[cursor[c]] = i
            cursor[c] += 1
        for c in prange(n_columns, schedule="dynamic", chunksize=64, use_threads_if=n_columns >= PARALLEL_MIN_WORK):
            if col_start[c + 1] - col_start[c] > 1:
                _stable_sort_rows_by_key(&rows[col_start[c]], &buffer[col_start[c]], &key[0],
                                         col_start[c + 1] - col_start[c])


def stack_columns(const int64_t[::1] col_start, const int64_t[::1] rows,
                  const double[::1] height_um, const double[::1] bm_height_um,
                  double[::1] z_bottom_um, double[::1] column_top_um):
    """Stack each column's cells bottom-to-top from the basement membrane upwards."""
    cdef Py_ssize_t n_columns = bm_height_um.shape[0]
    cdef Py_ssize_t c, q
    cdef int64_t row
    cdef double z
    with nogil:
        for c in prange(n_columns, schedule="static", use_threads_if=n_columns >= PARALLEL_MIN_WORK):
            z = bm_height_um[c]
            for q in range(col_start[c], col_start[c + 1]):
                row = rows[q]
                z_bottom_um[row] = z
                z = z + height_um[row]
            column_top_um[c] = z


def rasterize_columns(const int64_t[::1] col_start, const int64_t[::1] rows,
                      const double[::1] z_bottom_um, const double[::1] height_um,
                      const uint8_t[::1] code, double voxel_um, Py_ssize_t n_z,
                      uint8_t[::1] tissue, int64_t[::1] owner):
    """Paint every voxel whose centre lies in a cell's [bottom, top); count cells above the grid.

    Returns the number of cells whose top ``z_bottom + height`` exceeds ``n_z * voxel_um``.
    """
    cdef Py_ssize_t n_columns = col_start.shape[0] - 1
    cdef Py_ssize_t c, q, k
    cdef int64_t row
    cdef double lo, hi, first
    cdef double grid_top_um = <double>n_z * voxel_um
    cdef Py_ssize_t n_outside = 0
    with nogil:
        for c in prange(n_columns, schedule="static", use_threads_if=n_columns >= PARALLEL_MIN_WORK):
            for q in range(col_start[c], col_start[c + 1]):
                row = rows[q]
                lo = z_bottom_um[row]
                hi = lo + height_um[row]
                if hi > grid_top_um:
                    n_outside += 1
                first = floor(lo / voxel_um - 0.5)
                if first < 0.0:
                    k = 0
                elif first > <double>n_z:
                    k = n_z
                else:
                    k = <Py_ssize_t>first
                # the estimate may be off by one either way: settle it with the exact test
                while k > 0 and (<double>(k - 1) + 0.5) * voxel_um >= lo:
                    k = k - 1
                while k < n_z and (<double>k + 0.5) * voxel_um < lo:
                    k = k + 1
                while k < n_z and (<double>k + 0.5) * voxel_um < hi:
                    tissue[k * n_columns + c] = code[row]
                    owner[k * n_columns + c] = row
                    k = k + 1
    return n_outside


def move_with_exclusion(const int64_t[::1] order, const int64_t[::1] from_voxel,
                        const int64_t[::1] to_voxel, int32_t[::1] occupancy,
                        const int32_t[::1] capacity, uint8_t[::1] accepted):
    """Process moves in ``order``; accept when the target has room (``from_voxel < 0``: entry)."""
    cdef Py_ssize_t m = order.shape[0]
    cdef Py_ssize_t q
    cdef int64_t move, source, target
    with nogil:
        for q in range(m):
            move = order[q]
            source = from_voxel[move]
            target = to_voxel[move]
            if occupancy[target] < capacity[target]:
                if source >= 0:
                    occupancy[source] -= 1
                occupancy[target] += 1
                accepted[move] = 1
            else:
                accepted[move] = 0


def neighbour_count(const int32_t[::1] values, const int64_t[::1] padded_index,
                    const int64_t[::1] offsets, int32_t[::1] out):
    """Sum ``values`` over the offsets around each query voxel of the padded array."""
    cdef Py_ssize_t n_queries = padded_index.shape[0]
    cdef Py_ssize_t n_offsets = offsets.shape[0]
    cdef Py_ssize_t i, o
    cdef int32_t total
    cdef int64_t centre
    with nogil:
        for i in prange(n_queries, schedule="static", use_threads_if=n_queries >= PARALLEL_MIN_WORK):
            centre = padded_index[i]
            total = 0
            for o in range(n_offsets):
                total = total + values[centre + offsets[o]]
            out[i] = total


def scatter_rates(double[::1] out, Py_ssize_t n_voxels, const int64_t[::1] out_rows,
                  const double[::1] values, Py_ssize_t n_columns,
                  const int64_t[::1] value_columns, const int64_t[::1] voxels, double scale,
                  double[::1] total, uint8_t[::1] seen, int64_t[::1] occupied):
    """``out[out_rows[j], v] += scale * (sum of values[i, value_columns[j]] over cells at v)``.

    Each sum starts from 0.0 and adds the cells in order (as ``np.bincount``); every voxel
    holding a cell gets its row's ``+=`` once, others are untouched. ``out`` is raveled
    ``(n_out_rows, n_voxels)``, ``values`` ``(n_cells, n_columns)``. Scratch: ``total``
    (``n_voxels`` zeros, left zero), ``seen`` (``n_voxels`` zeros, left zero) and
    ``occupied`` (``n_cells``).
    """
    cdef Py_ssize_t n_cells = voxels.shape[0], n_rows = out_rows.shape[0]
    cdef Py_ssize_t i, j, n_occupied = 0
    cdef int64_t v, column, row
    with nogil:
        for i in range(n_cells):  # the voxels holding cells, each once
            v = voxels[i]
            if not seen[v]:
                seen[v] = 1
                occupied[n_occupied] = v
                n_occupied = n_occupied + 1
        for j in range(n_rows):
            column = value_columns[j]
            row = out_rows[j] * n_voxels
            for i in range(n_cells):
                total[voxels[i]] = total[voxels[i]] + values[i * n_columns + column]
            for i in range(n_occupied):
                v = occupied[i]
                out[row + v] = out[row + v] + scale * total[v]
                total[v] = 0.0
        for i in range(n_occupied):
            seen[occupied[i]] = 0
