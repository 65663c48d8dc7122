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
of one field, or a block of lanes of one tridiagonal batch). Every reduction first writes one
partial sum per (field, run) -- a partition that does not depend on the thread count -- and then
adds the partials of each field serially in run order, so results are bit-identical whatever
``OMP_NUM_THREADS`` is. Built without OpenMP, ``prange`` runs serially.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint8_t

# Lanes of a tridiagonal batch handled together: forward and backward sweeps over one block
# stay in cache (64 lanes x 512 rows x 8 B = 256 KiB per array).
cdef Py_ssize_t LANE_BLOCK = 64


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
        for task in prange(n_fields * n_runs, schedule="static"):
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
        for task in prange(n_fields * n_runs, schedule="static"):
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
        for task in prange(n_fields * n_runs, schedule="static"):
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
        for task in prange(n_fields * n_runs, schedule="static"):
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
        for task in prange(n_batch * n_blocks, schedule="static"):
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
        for task in prange(n_batch * n_blocks, schedule="static"):
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
