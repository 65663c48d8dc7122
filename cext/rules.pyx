# cython: language_level=3
"""Hill-rule evaluation kernel (DESIGN.md, principle 5).

Wrapped by ``mscabm._kernels.evaluate_rules``, which validates the arrays and sorts the rules
by (cell type, behaviour) into ``rule_order`` with CSR offsets ``group_start`` (group
``t * n_behaviours + j``). Twin: ``mscabm._reference.evaluate_rules``. ``gather_signals``
fills the signal matrix the rules read (wrapper ``mscabm._kernels.gather_signals``, twin
``mscabm._reference.gather_signals``).

Meaning, per cell of type t and behaviour j::

    H  = prod over the rule's terms of 1 / (1 + (K / s)**n)   (s <= 0 gives 0)
    U  = 1 - prod(1 - H) over increasing rules of (t, j)
    D  = 1 - prod(1 - H) over decreasing rules of (t, j)
    b  = base + (saturation_up - base) * U
    b <- b + (saturation_down - b) * D

``1 / (1 + (K/s)**n)`` equals ``s**n / (K**n + s**n)`` and never overflows to inf / inf.
Cells are independent, so the loop over cells may run in parallel bit-identically.
"""

from cython.parallel cimport prange

# below this many items a loop runs on one thread (OpenMP start-up and barriers cost more)
cdef Py_ssize_t PARALLEL_MIN_WORK = 20000
from libc.math cimport pow
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t


cdef inline double hill_term(double s, double half_max, double hill_power) noexcept nogil:
    cdef double ratio
    if not (s > 0.0):
        return 0.0
    ratio = half_max / s
    # the default powers without a libm call: x*x is the correctly rounded square, as NumPy's
    # power gives for an exponent of 2 (the twin)
    if hill_power == 2.0:
        return 1.0 / (1.0 + ratio * ratio)
    if hill_power == 1.0:
        return 1.0 / (1.0 + ratio)
    return 1.0 / (1.0 + pow(ratio, hill_power))


def evaluate_rules(const double[::1] signals, Py_ssize_t n_signals,
                   const int32_t[::1] cell_type,
                   const double[::1] base, const double[::1] saturation_up,
                   const double[::1] saturation_down, Py_ssize_t n_behaviours,
                   const int64_t[::1] group_start, const int64_t[::1] rule_order,
                   const int8_t[::1] rule_direction, const int32_t[::1] rule_term_start,
                   const int64_t[::1] type_slot_start, const int32_t[::1] slot_signal,
                   const double[::1] slot_half_max, const double[::1] slot_hill_power,
                   const int32_t[::1] term_slot, double[::1] hill, Py_ssize_t n_slots,
                   double[::1] out):
    """Write behaviour values (raveled ``[n_cells, n_behaviours]``) into ``out``.

    The distinct Hill terms of a cell type are its slots ``type_slot_start[t] :
    type_slot_start[t + 1]`` (signal, half-max, power); a term reads slot ``term_slot[term]``
    of its rule's type. Each cell's slots are computed once into ``hill`` (``n_slots`` per
    cell, ``n_slots`` at least the most slots of a type), then multiplied in rule order.
    """
    cdef Py_ssize_t n_cells = cell_type.shape[0]
    cdef Py_ssize_t i, j, q, p, r, term, k, first
    cdef double keep_up, keep_down, h, b
    with nogil:
        for i in prange(n_cells, schedule="static", use_threads_if=n_cells >= PARALLEL_MIN_WORK):
            first = type_slot_start[cell_type[i]]
            for k in range(first, type_slot_start[cell_type[i] + 1]):
                hill[i * n_slots + k - first] = hill_term(
                    signals[i * n_signals + slot_signal[k]], slot_half_max[k], slot_hill_power[k])
            for j in range(n_behaviours):
                p = cell_type[i] * n_behaviours + j
                keep_up = 1.0
                keep_down = 1.0
                for q in range(group_start[p], group_start[p + 1]):
                    r = rule_order[q]
                    h = 1.0
                    for term in range(rule_term_start[r], rule_term_start[r + 1]):
                        h = h * hill[i * n_slots + term_slot[term]]
                    if rule_direction[r] > 0:
                        keep_up = keep_up * (1.0 - h)
                    else:
                        keep_down = keep_down * (1.0 - h)
                b = base[p] + (saturation_up[p] - base[p]) * (1.0 - keep_up)
                b = b + (saturation_down[p] - b) * (1.0 - keep_down)
                out[i * n_behaviours + j] = b


def gather_signals(const double[::1] conc, Py_ssize_t n_voxels, const int64_t[::1] voxels,
                   const int64_t[::1] field_columns, const int64_t[::1] counts,
                   Py_ssize_t width, const int64_t[::1] neighbours, Py_ssize_t k,
                   const int64_t[::1] count_columns, const int32_t[::1] own_type,
                   const uint8_t[::1] membership, Py_ssize_t n_groups, int64_t[::1] total,
                   double[::1] signals, Py_ssize_t n_signals):
    """Write each cell's field levels and contact counts into its row of ``signals``.

    Cell i at voxel v: ``signals[i, field_columns[f]] = conc[f, v]``; with ``width > 0`` the
    counts of v and its ``k`` neighbours (``neighbours[v, j]``, -1 reads row ``n_voxels`` of
    ``counts``) are summed per column (int64), ``membership[own_type[i], g]`` is taken from
    column ``g < n_groups`` when ``own_type[i] >= 0``, and column ``g`` goes to
    ``signals[i, count_columns[g]]`` unless that is -1. ``total`` is int64 scratch of
    ``width``. Other entries of ``signals`` are left as they are.
    """
    cdef Py_ssize_t n_cells = voxels.shape[0], n_fields = field_columns.shape[0]
    cdef Py_ssize_t i, f, g, j, row
    cdef int64_t v, u, t
    with nogil:
        # field by field: each gather reads one field's row (it stays in cache)
        for f in range(n_fields):
            row = field_columns[f]
            for i in range(n_cells):
                signals[i * n_signals + row] = conc[f * n_voxels + voxels[i]]
        for i in range(n_cells if width > 0 else 0):
            v = voxels[i]
            row = i * n_signals
            for g in range(width):
                total[g] = counts[v * width + g]
            for j in range(k):
                u = neighbours[v * k + j]
                if u < 0:
                    u = n_voxels
                for g in range(width):
                    total[g] = total[g] + counts[u * width + g]
            t = own_type[i]
            if t >= 0:
                for g in range(n_groups):
                    total[g] = total[g] - membership[t * n_groups + g]
            for g in range(width):
                if count_columns[g] >= 0:
                    signals[row + count_columns[g]] = <double>total[g]
