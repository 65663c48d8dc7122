# cython: language_level=3
"""Pure kernels of the field solver (diffusion, decay and uptake of many cytokine fields).

Everything here works on raveled float64 arrays and scalars, without Python objects inside
loops (DESIGN.md, principle 2). Fields are stored one after another: field ``f`` occupies
``[f * padded_size, (f + 1) * padded_size)`` of a raveled array whose grid is padded by one ghost
voxel on every side, so one kernel serves 2-D and 3-D through a table of neighbour offsets (one
positive offset per axis) and a table of "runs" (start indices of the contiguous interior
stretches along the last axis, all ``run_length`` long).

Face weights are stored once per face: ``face_weight[(f * ndim + k) * padded_size + v]`` is the
weight of the face between voxel ``v`` and voxel ``v + offsets[k]`` of field ``f``.

Threading (DESIGN.md, principle 7): ``prange`` is used only over independent work items (a run
of one field, a block of lanes of one tridiagonal batch, one field's whole solve), and only
when a call has at least ``PARALLEL_MIN_WORK`` voxel-fields of work. Every reduction first writes one
partial sum per (field, run) -- a partition that does not depend on the thread count -- and then
adds the partials of each field serially in run order, so results are bit-identical whatever
``OMP_NUM_THREADS`` is. Built without OpenMP, ``prange`` runs serially.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport calloc, free

# Lanes of a tridiagonal batch handled together: forward and backward sweeps over one block
# stay in cache (64 lanes x 512 rows x 8 B = 256 KiB per array).
cdef Py_ssize_t LANE_BLOCK = 64

# Loops with less work than this (voxel-fields) run on one thread: OpenMP barriers spin on tiny
# loops, and with a busy second core a 70 x 100 step was 5x slower on two threads than on one.
cdef Py_ssize_t PARALLEL_MIN_WORK = 200000


cdef inline double _run_dot(const double[::1] a, const double[::1] b, Py_ssize_t start,
                            Py_ssize_t length) noexcept nogil:
    """Dot product of one run with four interleaved accumulators in a fixed order."""
    cdef double acc0 = 0.0, acc1 = 0.0, acc2 = 0.0, acc3 = 0.0
    cdef Py_ssize_t i = 0
    while i + 4 <= length:
        acc0 = acc0 + a[start + i] * b[start + i]
        acc1 = acc1 + a[start + i + 1] * b[start + i + 1]
        acc2 = acc2 + a[start + i + 2] * b[start + i + 2]
        acc3 = acc3 + a[start + i + 3] * b[start + i + 3]
        i = i + 4
    while i < length:
        acc0 = acc0 + a[start + i] * b[start + i]
        i = i + 1
    return (acc0 + acc1) + (acc2 + acc3)


cdef inline void _fold_partials(const double[::1] partials, Py_ssize_t n_fields,
                                Py_ssize_t n_runs, double[::1] totals) noexcept nogil:
    """Add the per-run partial sums of each field serially in run order."""
    cdef Py_ssize_t f, run
    cdef double total
    for f in range(n_fields):
        total = 0.0
        for run in range(n_runs):
            total = total + partials[f * n_runs + run]
        totals[f] = total


def operator_apply(const double[::1] x, const double[::1] diagonal,
                   const double[::1] face_weight, const int64_t[::1] offsets,
                   const int64_t[::1] run_starts, Py_ssize_t run_length, Py_ssize_t n_fields,
                   const uint8_t[::1] active, double[::1] out, double[::1] partials,
                   double[::1] x_dot_out):
    """out = A x on the interior voxels of every active field; x_dot_out[f] = x . (A x).

    ``(A x)[v] = diagonal[v] x[v] - sum_k (w_k[v] x[v + o_k] + w_k[v - o_k] x[v - o_k])``.
    Ghost voxels of ``out`` are not written; ghost voxels of ``x`` must hold finite values
    (copies of the opposite border for periodic axes).
    """
    cdef Py_ssize_t n_runs = run_starts.shape[0]
    cdef Py_ssize_t ndim = offsets.shape[0]
    cdef Py_ssize_t padded = x.shape[0] // n_fields
    cdef Py_ssize_t task, f, run, i, k, start, wstart, off
    with nogil:
        for task in prange(n_fields * n_runs, schedule="static",
                          use_threads_if=n_fields * n_runs * run_length >= PARALLEL_MIN_WORK):
            f = task // n_runs
            run = task - f * n_runs
            if active[f] == 0:
                partials[task] = 0.0
                continue
            start = f * padded + run_starts[run]
            for i in range(run_length):
                out[start + i] = diagonal[start + i] * x[start + i]
            for k in range(ndim):
                off = offsets[k]
                wstart = (f * ndim + k) * padded + run_starts[run]
                for i in range(run_length):
                    out[start + i] = (out[start + i]
                                      - face_weight[wstart + i] * x[start + i + off])
                for i in range(run_length):
                    out[start + i] = (out[start + i]
                                      - face_weight[wstart + i - off] * x[start + i - off])
            partials[task] = _run_dot(x, out, start, run_length)
        _fold_partials(partials, n_fields, n_runs, x_dot_out)


def fields_dot(const double[::1] a, const double[::1] b, const int64_t[::1] run_starts,
               Py_ssize_t run_length, Py_ssize_t n_fields, const uint8_t[::1] active,
               double[::1] partials, double[::1] dot_out):
    """dot_out[f] = sum over the interior voxels of field f of a * b (0 for inactive fields)."""
    cdef Py_ssize_t n_runs = run_starts.shape[0]
    cdef Py_ssize_t padded = a.shape[0] // n_fields
    cdef Py_ssize_t task, f, run
    with nogil:
        for task in prange(n_fields * n_runs, schedule="static",
                          use_threads_if=n_fields * n_runs * run_length >= PARALLEL_MIN_WORK):
            f = task // n_runs
            run = task - f * n_runs
            if active[f] == 0:
                partials[task] = 0.0
            else:
                partials[task] = _run_dot(a, b, f * padded + run_starts[run], run_length)
        _fold_partials(partials, n_fields, n_runs, dot_out)


def cg_update(double[::1] x, double[::1] residual, const double[::1] direction,
              const double[::1] a_direction, const double[::1] alpha,
              const int64_t[::1] run_starts, Py_ssize_t run_length, Py_ssize_t n_fields,
              const uint8_t[::1] active, double[::1] partials, double[::1] residual_sq_out):
    """x += alpha_f p; r -= alpha_f (A p) on active fields; residual_sq_out[f] = r . r."""
    cdef Py_ssize_t n_runs = run_starts.shape[0]
    cdef Py_ssize_t padded = x.shape[0] // n_fields
    cdef Py_ssize_t task, f, run, i, start
    cdef double step_length
    with nogil:
        for task in prange(n_fields * n_runs, schedule="static",
                          use_threads_if=n_fields * n_runs * run_length >= PARALLEL_MIN_WORK):
            f = task // n_runs
            run = task - f * n_runs
            if active[f] == 0:
                partials[task] = 0.0
                continue
            step_length = alpha[f]
            start = f * padded + run_starts[run]
            for i in range(start, start + run_length):
                x[i] = x[i] + step_length * direction[i]
                residual[i] = residual[i] - step_length * a_direction[i]
            partials[task] = _run_dot(residual, residual, start, run_length)
        _fold_partials(partials, n_fields, n_runs, residual_sq_out)


def cg_direction(const double[::1] preconditioned, double[::1] direction,
                 const double[::1] beta, const int64_t[::1] run_starts, Py_ssize_t run_length,
                 Py_ssize_t n_fields, const uint8_t[::1] active):
    """direction = preconditioned + beta_f direction on the interior of active fields."""
    cdef Py_ssize_t n_runs = run_starts.shape[0]
    cdef Py_ssize_t padded = direction.shape[0] // n_fields
    cdef Py_ssize_t task, f, run, i, start
    cdef double weight
    with nogil:
        for task in prange(n_fields * n_runs, schedule="static",
                          use_threads_if=n_fields * n_runs * run_length >= PARALLEL_MIN_WORK):
            f = task // n_runs
            run = task - f * n_runs
            if active[f] == 0:
                continue
            weight = beta[f]
            start = f * padded + run_starts[run]
            for i in range(start, start + run_length):
                direction[i] = preconditioned[i] + weight * direction[i]


def tridiagonal_factor(const double[::1] lower, const double[::1] diagonal,
                       const double[::1] upper, Py_ssize_t n_batch, Py_ssize_t n_rows,
                       Py_ssize_t n_lanes, double[::1] inv_pivot):
    """Thomas factorisation of n_batch x n_lanes tridiagonal systems of n_rows unknowns.

    ``lower[b * n_rows + z]`` multiplies unknown ``z - 1`` in row ``z`` and
    ``upper[b * n_rows + z]`` unknown ``z + 1`` (both shared by the lanes of batch ``b``);
    ``diagonal`` and ``inv_pivot`` are ``(n_batch, n_rows, n_lanes)`` raveled. Writes
    ``inv_pivot[z] = 1 / (diagonal[z] - lower[z] upper[z - 1] inv_pivot[z - 1])``.
    """
    cdef Py_ssize_t n_blocks = (n_lanes + LANE_BLOCK - 1) // LANE_BLOCK
    cdef Py_ssize_t task, b, block, lane0, lane1, z, lane, row, prev
    cdef double coupling
    with nogil:
        for task in prange(n_batch * n_blocks, schedule="static",
                          use_threads_if=n_batch * n_rows * n_lanes >= PARALLEL_MIN_WORK):
            b = task // n_blocks
            block = task - b * n_blocks
            lane0 = block * LANE_BLOCK
            lane1 = lane0 + LANE_BLOCK
            if lane1 > n_lanes:
                lane1 = n_lanes
            row = b * n_rows * n_lanes
            for lane in range(lane0, lane1):
                inv_pivot[row + lane] = 1.0 / diagonal[row + lane]
            for z in range(1, n_rows):
                prev = row
                row = row + n_lanes
                coupling = lower[b * n_rows + z] * upper[b * n_rows + z - 1]
                for lane in range(lane0, lane1):
                    inv_pivot[row + lane] = 1.0 / (diagonal[row + lane]
                                                   - coupling * inv_pivot[prev + lane])


def tridiagonal_solve(const double[::1] lower, const double[::1] upper,
                      const double[::1] inv_pivot, double[::1] rhs, Py_ssize_t n_batch,
                      Py_ssize_t n_rows, Py_ssize_t n_lanes, const uint8_t[::1] active):
    """Solve the factored systems in place: rhs (n_batch, n_rows, n_lanes) becomes x.

    Forward ``y[z] = (rhs[z] - lower[z] y[z - 1]) inv_pivot[z]``, backward
    ``x[z] = y[z] - (upper[z] inv_pivot[z]) x[z + 1]``. Batches with ``active == 0`` are
    left untouched.
    """
    cdef Py_ssize_t n_blocks = (n_lanes + LANE_BLOCK - 1) // LANE_BLOCK
    cdef Py_ssize_t task, b, block, lane0, lane1, z, lane, row, prev, first
    cdef double coefficient
    with nogil:
        for task in prange(n_batch * n_blocks, schedule="static",
                          use_threads_if=n_batch * n_rows * n_lanes >= PARALLEL_MIN_WORK):
            b = task // n_blocks
            if active[b] == 0:
                continue
            block = task - b * n_blocks
            lane0 = block * LANE_BLOCK
            lane1 = lane0 + LANE_BLOCK
            if lane1 > n_lanes:
                lane1 = n_lanes
            first = b * n_rows * n_lanes
            row = first
            for lane in range(lane0, lane1):
                rhs[row + lane] = rhs[row + lane] * inv_pivot[row + lane]
            for z in range(1, n_rows):
                prev = row
                row = row + n_lanes
                coefficient = lower[b * n_rows + z]
                for lane in range(lane0, lane1):
                    rhs[row + lane] = ((rhs[row + lane] - coefficient * rhs[prev + lane])
                                       * inv_pivot[row + lane])
            for z in range(n_rows - 2, -1, -1):
                row = first + z * n_lanes
                prev = row + n_lanes
                coefficient = upper[b * n_rows + z]
                for lane in range(lane0, lane1):
                    rhs[row + lane] = (rhs[row + lane]
                                       - (coefficient * inv_pivot[row + lane]) * rhs[prev + lane])


# ------------------------------------------------------------------ multigrid-preconditioned CG
#
# Layout of the hierarchy (built by mscabm.diffusion, checked by mscabm._kernels): every level
# keeps all ``nz`` depth rows and coarsens the lateral axes by two; level ``l`` owns columns
# ``[level_offsets[l], level_offsets[l] + level_cols[l])`` of a row of ``n_total`` columns, so a
# per-set array is ``(nz, n_total)`` raveled (voxel ``z * n_total + level_offsets[l] + c``).
# Fields with identical coefficients share one coefficient set: field ``f`` reads the arrays of
# set ``coefficient_set[f]``.
# ``neighbours_plus[a * n_total + level_offsets[l] + c]`` is the level-local column across the
# + face of column ``c`` along lateral axis ``a`` (``neighbours_minus`` the - face); the weight
# of that + face is ``lateral[(s * n_axes + a) * nz * n_total + v]`` (zero at closed borders).
# ``depth[v]`` is the weight of the face between rows z and z + 1 (zero on the top row).
# ``colour_columns[colour_ptr[l * (n_colours + 1) + k] : colour_ptr[... + k + 1]]`` lists the
# level-local columns of colour ``k``: no two lateral neighbours share a colour, so a colour's
# depth lines can be solved one after another in any order (line Gauss-Seidel).
# ``inv_pivot`` holds the inverse Thomas pivots of every column's depth system (the diagonal
# includes the lateral face weights). ``aggregate[level_offsets[l] + c]`` is the column of
# level ``l + 1`` that column ``c`` of level ``l`` belongs to.
#
# Line grids (``line`` set by the wrapper after checking the tables): one periodic lateral
# axis, the 2-D section. Then the tables hold column arithmetic -- neighbours ``c +- 1`` modulo
# ``level_cols[l]``, aggregate ``c // 2``, colour 0 the even columns, colour 1 the odd ones and
# colour 2 the last column of an odd level (> 1 column) -- and the kernels compute it instead
# of loading three int64 tables per voxel. Every sum is formed in the same order as on the
# general path, so both paths give the same bits.
#
# Threading: fields are independent; each field's whole solve runs on one thread in a fixed
# order, so results do not depend on the thread count. The PCG scratch is one slot of four
# ``(nz, n_total)`` arrays per thread (``threadid()``), reused field after field so it stays in
# cache. Threads are used only when ``parallel`` is set (the caller sets it above a size
# threshold: on small problems OpenMP's barriers cost more than the work).

from cython.parallel cimport threadid

cdef extern from *:
    """
    #if MSCABM_OPENMP
    #include <omp.h>
    static int mscabm_fields_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int mscabm_fields_max_threads(void) { return 1; }
    #endif
    """
    int mscabm_fields_max_threads() noexcept nogil


def max_threads():
    """Threads a parallel loop of this module may use now (1 when built without OpenMP)."""
    return mscabm_fields_max_threads()


cdef struct _Grid:
    Py_ssize_t nz
    Py_ssize_t n_total
    Py_ssize_t n_axes
    Py_ssize_t field_size      # nz * n_total
    Py_ssize_t n_levels
    Py_ssize_t n_colours
    bint line                  # one periodic lateral axis: column arithmetic, tables unread
    const int64_t* level_cols
    const int64_t* level_offsets
    const int64_t* neighbours_plus
    const int64_t* neighbours_minus
    const int64_t* aggregate
    const int64_t* colour_columns
    const int64_t* colour_ptr


cdef inline double _lateral_sum(const _Grid* g, const double* lateral, const double* x,
                                Py_ssize_t level, Py_ssize_t row, Py_ssize_t c) noexcept nogil:
    """Sum over lateral faces of (face weight) x (neighbour value) at voxel (row, c)."""
    cdef Py_ssize_t a, plus, minus, off = g.level_offsets[level]
    cdef double total = 0.0
    for a in range(g.n_axes):
        plus = g.neighbours_plus[a * g.n_total + off + c]
        minus = g.neighbours_minus[a * g.n_total + off + c]
        total = total + (lateral[a * g.field_size + row + c] * x[row + plus]
                         + lateral[a * g.field_size + row + minus] * x[row + minus])
    return total


cdef inline double _line_pair(const double* lateral, const double* x, Py_ssize_t row,
                              Py_ssize_t c, Py_ssize_t plus, Py_ssize_t minus) noexcept nogil:
    """_lateral_sum of a line grid with the neighbours given (the same sum, the same bits)."""
    return 0.0 + (lateral[row + c] * x[row + plus] + lateral[row + minus] * x[row + minus])


cdef inline double _line_apply_voxel(const double* diag, const double* depth,
                                     const double* lateral, const double* x, Py_ssize_t row,
                                     Py_ssize_t rs, Py_ssize_t c, Py_ssize_t plus,
                                     Py_ssize_t minus, bint below, bint above) noexcept nogil:
    cdef double value = diag[row + c] * x[row + c] - _line_pair(lateral, x, row, c, plus, minus)
    if below:
        value = value - depth[row - rs + c] * x[row - rs + c]
    if above:
        value = value - depth[row + c] * x[row + rs + c]
    return value


cdef void _line_apply_row(Py_ssize_t nc, Py_ssize_t rs, Py_ssize_t row, const double* diag,
                          const double* depth, const double* lateral, const double* x,
                          double* out, bint below, bint above) noexcept nogil:
    """out = A x on one row of a line level."""
    cdef Py_ssize_t c, last = nc - 1
    if nc == 1:
        out[row] = _line_apply_voxel(diag, depth, lateral, x, row, rs, 0, 0, 0, below, above)
        return
    out[row] = _line_apply_voxel(diag, depth, lateral, x, row, rs, 0, 1, last, below, above)
    for c in range(1, last):
        out[row + c] = _line_apply_voxel(diag, depth, lateral, x, row, rs, c, c + 1, c - 1,
                                         below, above)
    out[row + last] = _line_apply_voxel(diag, depth, lateral, x, row, rs, last, 0, last - 1,
                                        below, above)


cdef void _level_apply(const _Grid* g, Py_ssize_t level, const double* diag,
                       const double* depth, const double* lateral, const double* x,
                       double* out) noexcept nogil:
    """out = A x on one level (pointers already offset to the level's first column)."""
    cdef Py_ssize_t nc = g.level_cols[level], rs = g.n_total, z, c, row
    if g.line:
        for z in range(g.nz):
            _line_apply_row(nc, rs, z * rs, diag, depth, lateral, x, out, z > 0, z < g.nz - 1)
        return
    for z in range(g.nz):
        row = z * rs
        for c in range(nc):
            out[row + c] = diag[row + c] * x[row + c] - _lateral_sum(g, lateral, x, level,
                                                                     row, c)
        if z > 0:
            for c in range(nc):
                out[row + c] = out[row + c] - depth[row - rs + c] * x[row - rs + c]
        if z < g.nz - 1:
            for c in range(nc):
                out[row + c] = out[row + c] - depth[row + c] * x[row + rs + c]


cdef inline double _line_sweep_voxel(const double* depth, const double* lateral,
                                     const double* inv_pivot, const double* b, const double* x,
                                     Py_ssize_t row, Py_ssize_t rs, Py_ssize_t c,
                                     Py_ssize_t plus, Py_ssize_t minus, bint below) noexcept nogil:
    cdef double t = b[row + c] + _line_pair(lateral, x, row, c, plus, minus)
    if below:
        t = t + depth[row - rs + c] * x[row - rs + c]
    return t * inv_pivot[row + c]


cdef inline void _line_forward_row(Py_ssize_t nc, Py_ssize_t rs, Py_ssize_t row,
                                   Py_ssize_t first, Py_ssize_t end, const double* depth,
                                   const double* lateral, const double* inv_pivot,
                                   const double* b, double* x, bint below,
                                   bint from_zero) noexcept nogil:
    """Forward elimination of one row of the line sweep over columns first, first + 2, ...

    With ``from_zero`` the lateral neighbours are known to hold zero (the first colour of a
    V-cycle level) and are not read: ``b + 0.0`` is ``b``, so the bits are the same.
    """
    cdef Py_ssize_t c = first, last = nc - 1
    cdef Py_ssize_t stop = end if end < last else last  # below `last`: no wrap-around
    cdef double t
    if from_zero:
        while c < end:
            t = b[row + c]
            if below:
                t = t + depth[row - rs + c] * x[row - rs + c]
            x[row + c] = t * inv_pivot[row + c]
            c = c + 2
        return
    if c == 0:
        x[row] = _line_sweep_voxel(depth, lateral, inv_pivot, b, x, row, rs, 0,
                                   1 if nc > 1 else 0, last, below)
        c = 2
    while c < stop:
        x[row + c] = _line_sweep_voxel(depth, lateral, inv_pivot, b, x, row, rs, c, c + 1,
                                       c - 1, below)
        c = c + 2
    if c == last and c < end:
        x[row + c] = _line_sweep_voxel(depth, lateral, inv_pivot, b, x, row, rs, c, 0, c - 1,
                                       below)


cdef void _line_sweep_columns(const _Grid* g, Py_ssize_t level, Py_ssize_t first,
                              Py_ssize_t end, const double* depth, const double* lateral,
                              const double* inv_pivot, const double* b, double* x,
                              bint from_zero) noexcept nogil:
    """_line_sweep on a line level for the columns first, first + 2, ... < end."""
    cdef Py_ssize_t nc = g.level_cols[level], rs = g.n_total, z, c, row
    if first >= end:
        return
    if from_zero:
        _line_forward_row(nc, rs, 0, first, end, depth, lateral, inv_pivot, b, x, False, True)
        for z in range(1, g.nz):
            _line_forward_row(nc, rs, z * rs, first, end, depth, lateral, inv_pivot, b, x,
                              True, True)
    else:
        _line_forward_row(nc, rs, 0, first, end, depth, lateral, inv_pivot, b, x, False, False)
        for z in range(1, g.nz):
            _line_forward_row(nc, rs, z * rs, first, end, depth, lateral, inv_pivot, b, x,
                              True, False)
    for z in range(g.nz - 2, -1, -1):
        row = z * rs
        c = first
        while c < end:
            x[row + c] = x[row + c] + (depth[row + c] * inv_pivot[row + c]) * x[row + rs + c]
            c = c + 2


cdef void _line_sweep(const _Grid* g, Py_ssize_t level, Py_ssize_t colour,
                      const double* depth, const double* lateral, const double* inv_pivot,
                      const double* b, double* x, bint from_zero=False) noexcept nogil:
    """Solve the depth lines of one colour exactly, lateral neighbours held at their values.

    ``from_zero`` (line grids only): every lateral neighbour of the colour holds zero.
    """
    cdef Py_ssize_t rs = g.n_total, z, k, c, row, nc
    cdef Py_ssize_t first, last
    cdef double t
    if g.line:
        nc = g.level_cols[level]
        if colour == 0:  # even columns; an odd level's last column has colour 2
            _line_sweep_columns(g, level, 0, nc - 1 if nc % 2 == 1 and nc > 1 else nc,
                                depth, lateral, inv_pivot, b, x, from_zero)
        elif colour == 1:
            _line_sweep_columns(g, level, 1, nc, depth, lateral, inv_pivot, b, x, from_zero)
        elif colour == 2 and nc % 2 == 1 and nc > 1:
            _line_sweep_columns(g, level, nc - 1, nc, depth, lateral, inv_pivot, b, x,
                                from_zero)
        return
    first = g.colour_ptr[level * (g.n_colours + 1) + colour]
    last = g.colour_ptr[level * (g.n_colours + 1) + colour + 1]
    if first == last:
        return
    for z in range(g.nz):
        row = z * rs
        for k in range(first, last):
            c = g.colour_columns[k]
            t = b[row + c] + _lateral_sum(g, lateral, x, level, row, c)
            if z > 0:
                t = t + depth[row - rs + c] * x[row - rs + c]
            x[row + c] = t * inv_pivot[row + c]
    for z in range(g.nz - 2, -1, -1):
        row = z * rs
        for k in range(first, last):
            c = g.colour_columns[k]
            x[row + c] = x[row + c] + (depth[row + c] * inv_pivot[row + c]) * x[row + rs + c]


cdef inline double _line_residual_voxel(const double* diag, const double* depth,
                                        const double* lateral, const double* b, const double* x,
                                        Py_ssize_t row, Py_ssize_t rs, Py_ssize_t c,
                                        Py_ssize_t plus, Py_ssize_t minus, bint below,
                                        bint above) noexcept nogil:
    cdef double r = b[row + c] - diag[row + c] * x[row + c] + _line_pair(lateral, x, row, c,
                                                                          plus, minus)
    if below:
        r = r + depth[row - rs + c] * x[row - rs + c]
    if above:
        r = r + depth[row + c] * x[row + rs + c]
    return r


cdef inline void _line_restrict_row(Py_ssize_t nc, Py_ssize_t rs, Py_ssize_t row,
                                    const double* diag, const double* depth,
                                    const double* lateral, const double* b, const double* x,
                                    double* coarse_b, bint below, bint above) noexcept nogil:
    """coarse_b = pair sums of (b - A x) on one row of a line level (nc > 1 columns).

    Each coarse value is formed as ``(0.0 + r[2j]) + r[2j + 1]``, the order of the general
    path's accumulation into a zeroed row.
    """
    cdef Py_ssize_t j = 1, last = nc - 1
    coarse_b[row] = ((0.0 + _line_residual_voxel(diag, depth, lateral, b, x, row, rs, 0, 1,
                                                   last, below, above))
                     + _line_residual_voxel(diag, depth, lateral, b, x, row, rs, 1,
                                            0 if nc == 2 else 2, 0, below, above))
    while 2 * j + 1 < last:
        coarse_b[row + j] = (
            (0.0 + _line_residual_voxel(diag, depth, lateral, b, x, row, rs, 2 * j, 2 * j + 1,
                                        2 * j - 1, below, above))
            + _line_residual_voxel(diag, depth, lateral, b, x, row, rs, 2 * j + 1, 2 * j + 2,
                                   2 * j, below, above))
        j = j + 1
    if 2 * j == last:
        coarse_b[row + j] = 0.0 + _line_residual_voxel(diag, depth, lateral, b, x, row, rs,
                                                       last, 0, last - 1, below, above)
    elif 2 * j + 1 == last:
        coarse_b[row + j] = (
            (0.0 + _line_residual_voxel(diag, depth, lateral, b, x, row, rs, 2 * j, last,
                                        2 * j - 1, below, above))
            + _line_residual_voxel(diag, depth, lateral, b, x, row, rs, last, 0, last - 1,
                                   below, above))


cdef void _residual_restrict(const _Grid* g, Py_ssize_t level, const double* diag,
                             const double* depth, const double* lateral, const double* b,
                             const double* x, double* coarse_b) noexcept nogil:
    """coarse_b = sum over each aggregate of (b - A x) (pointers offset to their levels)."""
    cdef Py_ssize_t nc = g.level_cols[level], ncc = g.level_cols[level + 1]
    cdef Py_ssize_t off = g.level_offsets[level], rs = g.n_total, z, c, row
    cdef double r
    if g.line:  # nc > 1: a one-column level is the last one
        if g.nz == 1:
            _line_restrict_row(nc, rs, 0, diag, depth, lateral, b, x, coarse_b, False, False)
            return
        _line_restrict_row(nc, rs, 0, diag, depth, lateral, b, x, coarse_b, False, True)
        for z in range(1, g.nz - 1):
            _line_restrict_row(nc, rs, z * rs, diag, depth, lateral, b, x, coarse_b, True,
                               True)
        _line_restrict_row(nc, rs, (g.nz - 1) * rs, diag, depth, lateral, b, x, coarse_b,
                           True, False)
        return
    for z in range(g.nz):
        row = z * rs
        for c in range(ncc):
            coarse_b[row + c] = 0.0
        for c in range(nc):
            r = b[row + c] - diag[row + c] * x[row + c] + _lateral_sum(g, lateral, x, level,
                                                                       row, c)
            if z > 0:
                r = r + depth[row - rs + c] * x[row - rs + c]
            if z < g.nz - 1:
                r = r + depth[row + c] * x[row + rs + c]
            coarse_b[row + g.aggregate[off + c]] += r


cdef void _vcycle(const _Grid* g, const double* diag, const double* depth,
                  const double* lateral, const double* inv_pivot, double* xs,
                  double* bs) noexcept nogil:
    """One symmetric V-cycle for one field: xs (level 0) = M^-1 bs (level 0).

    Pre-smoothing sweeps the colours in order, post-smoothing in reverse order, so the
    preconditioner is symmetric. The coarsest level has one column: its sweep is exact.
    """
    cdef Py_ssize_t level, k, z, c, row, off, coff, nc, top = g.n_levels - 1
    cdef Py_ssize_t rs = g.n_total
    for level in range(top + 1):
        off = g.level_offsets[level]
        nc = g.level_cols[level]
        if g.line:
            # Colour 0 reads no lateral neighbour (they are zero) and writes its columns;
            # colour 1 then reads only colours 0 and 2 and writes its own; only colour 2 (the
            # last column of an odd level) must start at zero.
            if nc % 2 == 1 and nc > 1:
                for z in range(g.nz):
                    xs[z * rs + off + nc - 1] = 0.0
            _line_sweep(g, level, 0, depth + off, lateral + off, inv_pivot + off, bs + off,
                        xs + off, True)
            for k in range(1, g.n_colours):
                _line_sweep(g, level, k, depth + off, lateral + off, inv_pivot + off,
                            bs + off, xs + off)
        else:
            for z in range(g.nz):
                row = z * rs + off
                for c in range(nc):
                    xs[row + c] = 0.0
            for k in range(g.n_colours):
                _line_sweep(g, level, k, depth + off, lateral + off, inv_pivot + off,
                            bs + off, xs + off)
        if level < top:
            coff = g.level_offsets[level + 1]
            _residual_restrict(g, level, diag + off, depth + off, lateral + off, bs + off,
                               xs + off, bs + coff)
    for level in range(top - 1, -1, -1):
        off = g.level_offsets[level]
        coff = g.level_offsets[level + 1]
        nc = g.level_cols[level]
        for z in range(g.nz):
            row = z * rs
            if g.line:
                for c in range(nc):
                    xs[row + off + c] = xs[row + off + c] + xs[row + coff + (c >> 1)]
            else:
                for c in range(nc):
                    xs[row + off + c] = (xs[row + off + c]
                                         + xs[row + coff + g.aggregate[off + c]])
        for k in range(g.n_colours - 1, -1, -1):
            _line_sweep(g, level, k, depth + off, lateral + off, inv_pivot + off, bs + off,
                        xs + off)


cdef inline double _level0_dot(const _Grid* g, const double* a, const double* b) noexcept nogil:
    """Dot product over the level-0 voxels, four accumulators, rows in order."""
    cdef Py_ssize_t nc = g.level_cols[0], z, c, row
    cdef double acc0 = 0.0, acc1 = 0.0, acc2 = 0.0, acc3 = 0.0
    for z in range(g.nz):
        row = z * g.n_total
        c = 0
        while c + 4 <= nc:
            acc0 = acc0 + a[row + c] * b[row + c]
            acc1 = acc1 + a[row + c + 1] * b[row + c + 1]
            acc2 = acc2 + a[row + c + 2] * b[row + c + 2]
            acc3 = acc3 + a[row + c + 3] * b[row + c + 3]
            c = c + 4
        while c < nc:
            acc0 = acc0 + a[row + c] * b[row + c]
            c = c + 1
    return (acc0 + acc1) + (acc2 + acc3)


cdef inline double _contiguous_dot(const double* a, Py_ssize_t n) noexcept nogil:
    cdef double acc0 = 0.0, acc1 = 0.0, acc2 = 0.0, acc3 = 0.0
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        acc0 = acc0 + a[i] * a[i]
        acc1 = acc1 + a[i + 1] * a[i + 1]
        acc2 = acc2 + a[i + 2] * a[i + 2]
        acc3 = acc3 + a[i + 3] * a[i + 3]
        i = i + 4
    while i < n:
        acc0 = acc0 + a[i] * a[i]
        i = i + 1
    return (acc0 + acc1) + (acc2 + acc3)


cdef void _pcg_field(const _Grid* g, const double* diag, const double* depth,
                     const double* lateral, const double* inv_pivot, const uint8_t* decoupled,
                     double* conc, const double* rhs, Py_ssize_t field_voxels,
                     double* xs, double* bs, double* p, double* ap, double rtol,
                     Py_ssize_t max_iterations, int64_t* iterations, int64_t* status,
                     double* residual_sq, double* rhs_sq) noexcept nogil:
    """Multigrid-preconditioned CG for one field; conc rows [0, nz) are updated in place.

    ``conc`` and ``rhs`` have row stride ``level_cols[0]``; every other array row stride
    ``n_total``. status: 0 converged, 1 iteration limit, 2 lost positivity.
    """
    cdef Py_ssize_t nc = g.level_cols[0], rs = g.n_total, z, c, v, u, it = 0
    cdef double b_sq, r_sq, tol_sq, rz, rz_new, p_ap, alpha, beta
    b_sq = _contiguous_dot(rhs, field_voxels)
    rhs_sq[0] = b_sq
    status[0] = 0
    iterations[0] = 0
    if b_sq == 0.0:
        for v in range(g.nz * nc):
            conc[v] = 0.0
        residual_sq[0] = 0.0
        return
    tol_sq = rtol * rtol * b_sq
    if tol_sq < MG_RESIDUAL_SQ_FLOOR:  # see fields_lanes.h
        tol_sq = MG_RESIDUAL_SQ_FLOOR
    # Decoupled voxels (closed, or with no open neighbour) take their exact value and keep a
    # zero residual; the iteration never changes them.
    for z in range(g.nz):
        for c in range(nc):
            v = z * nc + c
            u = z * rs + c
            if decoupled[v]:
                conc[v] = rhs[v] / diag[u]
            p[u] = conc[v]
    _level_apply(g, 0, diag, depth, lateral, p, ap)
    for z in range(g.nz):
        for c in range(nc):
            v = z * nc + c
            u = z * rs + c
            bs[u] = 0.0 if decoupled[v] else rhs[v] - ap[u]
    r_sq = _level0_dot(g, bs, bs)
    if r_sq > tol_sq:
        _vcycle(g, diag, depth, lateral, inv_pivot, xs, bs)
        rz = _level0_dot(g, bs, xs)
        for z in range(g.nz):
            for c in range(nc):
                p[z * rs + c] = xs[z * rs + c]
        while True:
            if not rz > 0.0:
                status[0] = 2
                break
            _level_apply(g, 0, diag, depth, lateral, p, ap)
            p_ap = _level0_dot(g, p, ap)
            alpha = rz / p_ap
            for z in range(g.nz):
                for c in range(nc):
                    u = z * rs + c
                    conc[z * nc + c] = conc[z * nc + c] + alpha * p[u]
                    bs[u] = bs[u] - alpha * ap[u]
            r_sq = _level0_dot(g, bs, bs)
            it = it + 1
            if r_sq <= tol_sq:
                break
            if it >= max_iterations:
                status[0] = 1
                break
            _vcycle(g, diag, depth, lateral, inv_pivot, xs, bs)
            rz_new = _level0_dot(g, bs, xs)
            beta = rz_new / rz
            rz = rz_new
            for z in range(g.nz):
                for c in range(nc):
                    u = z * rs + c
                    p[u] = xs[u] + beta * p[u]
    iterations[0] = it
    residual_sq[0] = r_sq


cdef _Grid _make_grid(Py_ssize_t nz, Py_ssize_t n_total, Py_ssize_t n_axes, bint line,
                      const int64_t[::1] level_cols, const int64_t[::1] level_offsets,
                      const int64_t[::1] neighbours_plus, const int64_t[::1] neighbours_minus,
                      const int64_t[::1] aggregate, const int64_t[::1] colour_columns,
                      const int64_t[::1] colour_ptr):
    cdef _Grid g
    g.nz = nz
    g.n_total = n_total
    g.n_axes = n_axes
    g.field_size = nz * n_total
    g.n_levels = level_cols.shape[0]
    g.n_colours = colour_ptr.shape[0] // g.n_levels - 1
    g.line = line
    g.level_cols = &level_cols[0]
    g.level_offsets = &level_offsets[0]
    g.neighbours_plus = &neighbours_plus[0]
    g.neighbours_minus = &neighbours_minus[0]
    g.aggregate = &aggregate[0]
    g.colour_columns = &colour_columns[0]
    g.colour_ptr = &colour_ptr[0]
    return g


def mg_tables_kind(const int64_t[::1] level_cols, const int64_t[::1] level_offsets,
                   const int64_t[::1] neighbours_plus, const int64_t[::1] neighbours_minus,
                   Py_ssize_t n_axes, const int64_t[::1] aggregate,
                   const int64_t[::1] colour_columns, const int64_t[::1] colour_ptr,
                   Py_ssize_t ptr_width):
    """What the hierarchy tables are: -1 not valid, 0 valid, 1 valid and a line grid.

    The compiled form of the content checks of ``_fields_check_multigrid`` and of
    ``_fields_is_line`` (mscabm._kernels, which states the conditions): table shapes are
    checked by the caller (``n_total`` columns per table, ``ptr_width`` = colours + 1 per
    level). An invalid table is then checked again in Python for the message.
    """
    cdef Py_ssize_t n_levels = level_cols.shape[0], n_total = aggregate.shape[0]
    cdef Py_ssize_t level, a, j, k, n, local, used, coarse, first, position, colour
    cdef bint line
    cdef uint8_t* seen
    if (n_levels == 0 or n_axes < 1 or ptr_width < 2
            or colour_ptr.shape[0] != n_levels * ptr_width
            or level_offsets.shape[0] != n_levels or colour_columns.shape[0] != n_total
            or neighbours_plus.shape[0] != n_axes * n_total
            or neighbours_minus.shape[0] != n_axes * n_total):
        return -1
    # levels: non-empty, one after another from column 0, the last with one column
    used = 0
    for level in range(n_levels):
        if level_cols[level] < 1 or level_offsets[level] != used:
            return -1
        used = used + level_cols[level]
    if used > n_total or level_cols[n_levels - 1] != 1:
        return -1
    # every table entry of a used column points inside its level (the next level for
    # aggregate); colour ranges split each level's columns
    for level in range(n_levels):
        first = level_offsets[level]
        n = level_cols[level]
        for j in range(first, first + n):
            for a in range(n_axes):
                if not (0 <= neighbours_plus[a * n_total + j] < n
                        and 0 <= neighbours_minus[a * n_total + j] < n):
                    return -1
            if not 0 <= colour_columns[j] < n:
                return -1
            if level + 1 < n_levels and not 0 <= aggregate[j] < level_cols[level + 1]:
                return -1
        if (colour_ptr[level * ptr_width] != first
                or colour_ptr[level * ptr_width + ptr_width - 1] != first + n):
            return -1
        for k in range(ptr_width - 1):
            if colour_ptr[level * ptr_width + k + 1] < colour_ptr[level * ptr_width + k]:
                return -1
    # a line grid: one axis, three colours, halving levels, neighbours c +- 1 (periodic),
    # aggregate c // 2, colour ranges holding even columns, odd columns and the last column of
    # an odd level with more than one column, each column once
    if n_axes != 1 or ptr_width != 4:
        return 0
    for level in range(n_levels - 1):
        if level_cols[level + 1] != (level_cols[level] + 1) // 2:
            return 0
    seen = <uint8_t*>calloc(used, 1)
    if seen == NULL:
        raise MemoryError()
    line = True
    coarse = used - level_cols[n_levels - 1]
    for level in range(n_levels):
        first = level_offsets[level]
        n = level_cols[level]
        for j in range(first, first + n):
            local = j - first
            if (neighbours_plus[j] != (local + 1) % n
                    or neighbours_minus[j] != (local - 1 + n) % n
                    or (j < coarse and aggregate[j] != local // 2)):
                line = False
                break
            position = first + colour_columns[j]
            if seen[position]:
                line = False
                break
            seen[position] = 1
            for k in range(3):
                if (colour_ptr[level * 4 + k] <= j < colour_ptr[level * 4 + k + 1]):
                    break
            local = colour_columns[j]
            colour = 2 if (n % 2 == 1 and n > 1 and local == n - 1) else local % 2
            if colour != k:
                line = False
                break
        if not line:
            break
    free(seen)
    return 1 if line else 0


def mg_vcycle(Py_ssize_t nz, Py_ssize_t n_total, Py_ssize_t n_axes, bint line,
              const int64_t[::1] level_cols, const int64_t[::1] level_offsets,
              const int64_t[::1] neighbours_plus, const int64_t[::1] neighbours_minus,
              const int64_t[::1] aggregate, const int64_t[::1] colour_columns,
              const int64_t[::1] colour_ptr, const double[::1] diag, const double[::1] depth,
              const double[::1] lateral, const double[::1] inv_pivot,
              const int64_t[::1] coefficient_set, const int64_t[::1] fields, double[::1] xs,
              double[::1] bs, bint parallel):
    """xs (level 0) = V-cycle applied to bs (level 0) for each listed field (bs is clobbered
    on the coarse levels). xs and bs are (nz, n_total) per field, raveled one after another;
    the coefficient arrays (nz, n_total) per set, field f using set coefficient_set[f]."""
    cdef _Grid g = _make_grid(nz, n_total, n_axes, line, level_cols, level_offsets,
                              neighbours_plus, neighbours_minus, aggregate, colour_columns,
                              colour_ptr)
    cdef Py_ssize_t i, f, s, size = g.field_size
    with nogil:
        for i in prange(fields.shape[0], schedule="dynamic", use_threads_if=parallel):
            f = fields[i]
            s = coefficient_set[f]
            _vcycle(&g, &diag[s * size], &depth[s * size], &lateral[s * n_axes * size],
                    &inv_pivot[s * size], &xs[f * size], &bs[f * size])


cdef extern from "fields_lanes.h":
    # The lane-interleaved twin of _pcg_field for the fields of one coefficient set on a line
    # grid (see the header): the same operations per field, 2 or 4 fields per voxel at once.
    ctypedef struct mg_lanes_grid:
        Py_ssize_t nz
        Py_ssize_t n_total
        Py_ssize_t n_levels
        Py_ssize_t n_colours
        const int64_t* level_cols
        const int64_t* level_offsets
    int MG_LANES_MAX
    double MG_RESIDUAL_SQ_FLOOR
    void mg_lanes_pcg2(const mg_lanes_grid* g, const double* diag, const double* depth,
                       const double* lateral, const double* inv_pivot, const uint8_t* decoupled,
                       double* conc, const double* rhs, Py_ssize_t field_voxels,
                       const int64_t* fields, int n, double* work, double rtol,
                       Py_ssize_t max_iterations, int64_t* iterations, int64_t* status,
                       double* residual_sq, double* rhs_sq) noexcept nogil
    void mg_lanes_pcg4(const mg_lanes_grid* g, const double* diag, const double* depth,
                       const double* lateral, const double* inv_pivot, const uint8_t* decoupled,
                       double* conc, const double* rhs, Py_ssize_t field_voxels,
                       const int64_t* fields, int n, double* work, double rtol,
                       Py_ssize_t max_iterations, int64_t* iterations, int64_t* status,
                       double* residual_sq, double* rhs_sq) noexcept nogil


def mg_residual_sq_floor():
    """Squared residual at or below which a field counts as converged, whatever its rtol."""
    return MG_RESIDUAL_SQ_FLOOR


def mg_lanes():
    """Fields of one coefficient set solved together on a line grid (at most)."""
    return MG_LANES_MAX


def mg_pcg(Py_ssize_t nz, Py_ssize_t n_total, Py_ssize_t n_axes, bint line,
           const int64_t[::1] level_cols, const int64_t[::1] level_offsets,
           const int64_t[::1] neighbours_plus, const int64_t[::1] neighbours_minus,
           const int64_t[::1] aggregate, const int64_t[::1] colour_columns,
           const int64_t[::1] colour_ptr, const double[::1] diag, const double[::1] depth,
           const double[::1] lateral, const double[::1] inv_pivot,
           const int64_t[::1] coefficient_set, const uint8_t[::1] decoupled,
           double[::1] conc, const double[::1] rhs, Py_ssize_t field_voxels,
           const int64_t[::1] fields, const int64_t[::1] group_ptr, double[::1] workspace,
           double rtol, Py_ssize_t max_iterations, int64_t[::1] iterations,
           int64_t[::1] status, double[::1] residual_sq, double[::1] rhs_sq, bint parallel):
    """Solve A x = rhs for each listed field by multigrid-preconditioned CG (see _pcg_field).

    ``conc``/``rhs`` are (n_fields, field_voxels) raveled with row stride level_cols[0]; only
    their first nz rows are iterated (``rhs_sq`` sums all ``field_voxels``). Coefficients and
    ``decoupled`` are per set (field f uses set coefficient_set[f]). ``fields`` is cut into
    groups ``fields[group_ptr[i]:group_ptr[i + 1]]``: on a line grid a group of 2 to
    MG_LANES_MAX fields of one set is solved in lockstep by the lane kernel (the same bits),
    any other group field by field. ``workspace`` holds one slot of 4 x nz x n_total x
    MG_LANES_MAX per thread that may run (slot = thread number).
    """
    cdef _Grid g = _make_grid(nz, n_total, n_axes, line, level_cols, level_offsets,
                              neighbours_plus, neighbours_minus, aggregate, colour_columns,
                              colour_ptr)
    cdef mg_lanes_grid lanes_grid
    cdef Py_ssize_t i, j, f, s, slot, first, count, size = g.field_size
    cdef Py_ssize_t small = nz * level_cols[0]
    cdef double* work
    if (group_ptr.shape[0] < 1 or group_ptr[0] != 0
            or group_ptr[group_ptr.shape[0] - 1] != fields.shape[0]):
        raise ValueError("group_ptr must run from 0 to the number of fields")
    for i in range(group_ptr.shape[0] - 1):
        count = group_ptr[i + 1] - group_ptr[i]
        if count < 1 or count > MG_LANES_MAX:
            raise ValueError(f"groups must hold 1 to {MG_LANES_MAX} fields")
        for j in range(group_ptr[i] + 1, group_ptr[i + 1]):
            if coefficient_set[fields[j]] != coefficient_set[fields[group_ptr[i]]]:
                raise ValueError("the fields of a group must share one coefficient set")
    if workspace.shape[0] < 4 * size * MG_LANES_MAX:
        raise ValueError("workspace too small")
    lanes_grid.nz = nz
    lanes_grid.n_total = n_total
    lanes_grid.n_levels = g.n_levels
    lanes_grid.n_colours = g.n_colours
    lanes_grid.level_cols = &level_cols[0]
    lanes_grid.level_offsets = &level_offsets[0]
    with nogil:
        for i in prange(group_ptr.shape[0] - 1, schedule="dynamic", use_threads_if=parallel):
            first = group_ptr[i]
            count = group_ptr[i + 1] - first
            s = coefficient_set[fields[first]]
            slot = threadid()
            work = &workspace[slot * 4 * size * MG_LANES_MAX]
            if line and count == 2:
                mg_lanes_pcg2(&lanes_grid, &diag[s * size], &depth[s * size],
                              &lateral[s * n_axes * size], &inv_pivot[s * size],
                              &decoupled[s * small],
                              &conc[0], &rhs[0], field_voxels, &fields[first], 2, work, rtol,
                              max_iterations, &iterations[0], &status[0], &residual_sq[0],
                              &rhs_sq[0])
            elif line and count > 2:
                mg_lanes_pcg4(&lanes_grid, &diag[s * size], &depth[s * size],
                              &lateral[s * n_axes * size], &inv_pivot[s * size],
                              &decoupled[s * small],
                              &conc[0], &rhs[0], field_voxels, &fields[first], <int>count, work,
                              rtol, max_iterations, &iterations[0], &status[0],
                              &residual_sq[0], &rhs_sq[0])
            else:
                for j in range(first, first + count):
                    f = fields[j]
                    _pcg_field(&g, &diag[s * size], &depth[s * size],
                               &lateral[s * n_axes * size], &inv_pivot[s * size],
                               &decoupled[s * small], &conc[f * field_voxels],
                               &rhs[f * field_voxels], field_voxels, work, work + size,
                               work + 2 * size, work + 3 * size, rtol, max_iterations,
                               &iterations[f], &status[f], &residual_sq[f], &rhs_sq[f])


# ------------------------------------------------------------ hierarchy of a line grid (build)

cdef inline double _harmonic(double a, double b) noexcept nogil:
    """2 a b / (a + b), zero when the sum is not positive (as mscabm.diffusion computes it)."""
    cdef double total = a + b
    if total > 0.0:
        return (2.0 * a * b) / total
    return 0.0


def mg_build_line(const double[::1] diffusion, const double[::1] base, double scale,
                  Py_ssize_t n_sets, Py_ssize_t nz, const int64_t[::1] level_cols,
                  const int64_t[::1] level_offsets, Py_ssize_t n_total, double[::1] diag,
                  double[::1] depth, double[::1] lateral, double[::1] inv_pivot,
                  uint8_t[::1] decoupled, double[::1] scratch, const uint8_t[::1] changed,
                  uint8_t[::1] marks, int64_t[::1] lists, int64_t[::1] list_len):
    """Multigrid hierarchy of one periodic lateral axis, set by set (serial, fixed order).

    ``diffusion`` and ``base`` (``1 + dt decay``, plus the fixed-bottom weight on row 0) are
    ``(n_sets, nz, level_cols[0])``; outputs ``(n_sets, nz, n_total)`` (``decoupled``
    ``(n_sets, nz, level_cols[0])``). Level 0: depth and lateral faces ``scale`` times the
    harmonic mean; each coarser level pairs columns (2j, 2j + 1): open if either is, mass the
    sum of the open ones' (1 if none), depth faces summed, lateral face half the fine face
    after the pair (none on a one-column level); diagonal ``((base + depth[z]) + depth[z - 1])
    + lateral[c] + lateral[c - 1]``; inverse Thomas pivots per column. Every value is formed
    in the order mscabm.diffusion's NumPy build uses, so the bits are the same. ``scratch``
    holds 2 * n_sets * nz * n_total doubles (each set's mass and open flags of every level,
    kept for the next partial build).

    ``changed`` (one flag per level-0 column) limits the work to what those columns' inputs
    reach: the outputs and ``scratch`` must then hold the build of inputs that differ only
    in the flagged columns, and every value that could change is recomputed by the same
    expressions (the result is the full build, bit for bit). All ones is the full build.
    ``marks`` is uint8 scratch of 2 * n_total (per column: inputs of its faces and mass
    changed; its diagonal, pivots or decoupled flags changed), ``lists`` int64 scratch of
    2 * n_total (the marked columns of each level in order, at the level's offset and
    n_total after it) and ``list_len`` int64 scratch of 2 * n_levels (their lengths).
    """
    cdef Py_ssize_t nc0 = level_cols[0], n_levels = level_cols.shape[0]
    cdef Py_ssize_t size = nz * n_total, small = nz * nc0
    cdef Py_ssize_t s, z, c, j, level, n, ncc, off, coff, row, last, u, minus
    cdef double* mass
    cdef double* is_open
    cdef double* dg
    cdef double* dp
    cdef double* lt
    cdef double* ip
    cdef const double* d
    cdef const double* b0
    cdef uint8_t* redo = &marks[0]        # faces and mass of the column
    cdef uint8_t* rediag = &marks[n_total]  # diagonal and pivots of the column
    cdef int64_t* redo_list = &lists[0]
    cdef int64_t* rediag_list = &lists[n_total]
    cdef Py_ssize_t k, n_redo, n_rediag
    cdef double w0, w1, total
    cdef bint faces
    with nogil:
        # which columns of every level the changed inputs reach
        for c in range(nc0):
            redo[c] = 1 if changed[c] or changed[c + 1 if c + 1 < nc0 else 0] else 0
        for level in range(1, n_levels):
            n = level_cols[level]
            off = level_offsets[level]
            coff = level_offsets[level - 1]
            last = level_cols[level - 1] - 1
            for j in range(n):
                redo[off + j] = redo[coff + 2 * j]
                if 2 * j + 1 <= last and redo[coff + 2 * j + 1]:
                    redo[off + j] = 1
        for level in range(n_levels):
            n = level_cols[level]
            off = level_offsets[level]
            for c in range(n):
                minus = c - 1 if c > 0 else n - 1
                rediag[off + c] = 1 if redo[off + c] or redo[off + minus] else 0
            # the marked columns in order (loops below visit only these)
            n_redo = 0
            n_rediag = 0
            for c in range(n):
                if redo[off + c]:
                    redo_list[off + n_redo] = c
                    n_redo = n_redo + 1
                if rediag[off + c]:
                    rediag_list[off + n_rediag] = c
                    n_rediag = n_rediag + 1
            list_len[2 * level] = n_redo
            list_len[2 * level + 1] = n_rediag
        for s in range(n_sets):
            mass = &scratch[2 * s * size]
            is_open = &scratch[(2 * s + 1) * size]
            d = &diffusion[s * small]
            b0 = &base[s * small]
            dg = &diag[s * size]
            dp = &depth[s * size]
            lt = &lateral[s * size]
            ip = &inv_pivot[s * size]
            for z in range(nz):
                for k in range(list_len[0]):
                    c = redo_list[k]
                    u = z * n_total + c
                    is_open[u] = 1.0 if d[z * nc0 + c] > 0.0 else 0.0
                    mass[u] = b0[z * nc0 + c]
                    if z < nz - 1:
                        dp[u] = scale * _harmonic(d[z * nc0 + c], d[(z + 1) * nc0 + c])
                    else:
                        dp[u] = 0.0
                    if nc0 == 1:
                        lt[u] = 0.0
                    else:
                        lt[u] = scale * _harmonic(d[z * nc0 + c],
                                                  d[z * nc0 + (c + 1 if c + 1 < nc0 else 0)])
            for level in range(n_levels):
                n = level_cols[level]
                off = level_offsets[level]
                if level > 0:  # coarsen level - 1 (pointer `coff`) into this one
                    coff = level_offsets[level - 1]
                    last = level_cols[level - 1] - 1
                    for z in range(nz):
                        row = z * n_total
                        for k in range(list_len[2 * level]):
                            j = redo_list[off + k]
                            c = 2 * j
                            if c + 1 <= last:
                                w0 = mass[row + coff + c] if is_open[row + coff + c] != 0.0 else 0.0
                                w1 = (mass[row + coff + c + 1]
                                      if is_open[row + coff + c + 1] != 0.0 else 0.0)
                                is_open[row + off + j] = (
                                    1.0 if is_open[row + coff + c] + is_open[row + coff + c + 1]
                                    > 0.0 else 0.0)
                                mass[row + off + j] = (w0 + w1 if is_open[row + off + j] != 0.0
                                                       else 1.0)
                                dp[row + off + j] = dp[row + coff + c] + dp[row + coff + c + 1]
                            else:  # the odd last column alone
                                is_open[row + off + j] = is_open[row + coff + c]
                                mass[row + off + j] = (mass[row + coff + c]
                                                       if is_open[row + coff + c] != 0.0
                                                       else 1.0)
                                dp[row + off + j] = dp[row + coff + c]
                            if n == 1:
                                lt[row + off + j] = 0.0
                            else:
                                lt[row + off + j] = 0.5 * lt[row + coff + (c + 1 if c + 1 <= last
                                                                           else last)]
                for z in range(nz):
                    row = z * n_total + off
                    for k in range(list_len[2 * level + 1]):
                        c = rediag_list[off + k]
                        minus = c - 1 if c > 0 else n - 1
                        total = mass[row + c] + dp[row + c]
                        if z > 0:
                            total = total + dp[row - n_total + c]
                        total = total + lt[row + c]
                        dg[row + c] = total + lt[row + minus]
                # pivots row by row (independent columns: the divisions pipeline), kept in
                # `ip` and inverted afterwards
                n_rediag = list_len[2 * level + 1]
                for k in range(n_rediag):
                    c = rediag_list[off + k]
                    ip[off + c] = dg[off + c]
                for z in range(1, nz):
                    row = z * n_total + off
                    for k in range(n_rediag):
                        c = rediag_list[off + k]
                        ip[row + c] = dg[row + c] - ((dp[row - n_total + c]
                                                      * dp[row - n_total + c])
                                                     / ip[row - n_total + c])
                for z in range(nz):
                    row = z * n_total + off
                    for k in range(n_rediag):
                        c = rediag_list[off + k]
                        ip[row + c] = 1.0 / ip[row + c]
            for z in range(nz):
                for k in range(list_len[1]):
                    c = rediag_list[k]
                    u = z * n_total + c
                    minus = c - 1 if c > 0 else nc0 - 1
                    faces = dp[u] != 0.0 or lt[u] != 0.0 or lt[z * n_total + minus] != 0.0
                    if z > 0 and dp[u - n_total] != 0.0:
                        faces = True
                    decoupled[s * small + z * nc0 + c] = 0 if faces else 1
