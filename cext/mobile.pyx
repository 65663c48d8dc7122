# cython: language_level=3
"""Mobile-cell kernels: several hops per step on the lattice, with exclusion and chemotaxis.

Wrapped by ``mscabm._kernels.mobile_walk`` (which validates every index and range, sorts the
cells of each round by their hash priority and documents the semantics); twin in
``mscabm._reference.mobile_walk``. Voxel index on the unpadded grid is ``z * n_columns + c``;
``neighbours`` is the raveled ``(n_voxels, k)`` table of ``Grid.neighbour_table`` (-1 outside).

The loop is sequential by design: hops compete for space in the hash-defined order, so no
``prange``. Probabilities and their cumulative sum are plain double operations in slot order
(built with ``-ffp-contract=off``), which the NumPy twin repeats bit for bit.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

from rng cimport key_finish, key_prefix, key_to_unit

# Codes of mscabm.random (Purpose.MOVE_DIRECTION, EntityKind.CELL); part of the key mapping.
cdef uint32_t PURPOSE_MOVE_DIRECTION = 6
cdef uint32_t KIND_CELL = 1


def mobile_walk(const int64_t[::1] order, const uint32_t[::1] order_round,
                int64_t[::1] voxel, const uint64_t[::1] cell_id, const double[::1] bias,
                const int32_t[::1] follow, const int32_t[::1] walker_kind,
                const double[::1] fields, const uint8_t[::1] allowed,
                int32_t[::1] occupancy, const int32_t[::1] capacity,
                const int64_t[::1] neighbours, Py_ssize_t n_voxels, Py_ssize_t k,
                uint64_t seed, int64_t step, int32_t[::1] moved):
    """Process hop attempts ``order[q]`` (cell row) in round ``order_round[q]``, in order.

    ``voxel`` (the cells' voxels) and ``occupancy`` are updated in place; ``moved`` counts the
    successful hops of each cell and must arrive zeroed. ``fields``, ``allowed`` and
    ``neighbours`` are raveled ``(n_fields, n_voxels)``, ``(n_kinds, n_voxels)`` and
    ``(n_voxels, k)``.
    """
    cdef Py_ssize_t m = order.shape[0]
    cdef Py_ssize_t q, j, chosen
    cdef int64_t i, v, target, row_start, allowed_row, field_row
    cdef int32_t f
    cdef Py_ssize_t n_valid
    cdef double b, g, total_gain, here, p, cumulative, u, uniform_p
    cdef uint64_t prefix = key_prefix(seed, step, PURPOSE_MOVE_DIRECTION, KIND_CELL)
    with nogil:
        for q in range(m):
            i = order[q]
            v = voxel[i]
            row_start = v * k
            allowed_row = <int64_t>walker_kind[i] * n_voxels
            f = follow[i]
            # valid slots and (when following a field) the sum of the uphill gains, slot order
            n_valid = 0
            total_gain = 0.0
            field_row = 0
            here = 0.0
            if f >= 0:
                field_row = <int64_t>f * n_voxels
                here = fields[field_row + v]
            for j in range(k):
                target = neighbours[row_start + j]
                if target < 0 or allowed[allowed_row + target] != 1:
                    continue
                n_valid += 1
                if f >= 0:
                    g = fields[field_row + target] - here
                    if g > 0.0:
                        total_gain = total_gain + g
            if n_valid == 0:
                continue
            u = key_to_unit(key_finish(prefix, cell_id[i], order_round[q]))
            b = bias[i]
            uniform_p = 1.0 / <double>n_valid
            cumulative = 0.0
            chosen = -1
            for j in range(k):
                target = neighbours[row_start + j]
                if target < 0 or allowed[allowed_row + target] != 1:
                    continue
                if f < 0 or total_gain == 0.0:
                    p = uniform_p
                else:
                    g = fields[field_row + target] - here
                    if not g > 0.0:
                        g = 0.0
                    p = (1.0 - b) / <double>n_valid + b * g / total_gain
                cumulative = cumulative + p
                chosen = j  # the last valid slot, should rounding leave u >= the total
                if u < cumulative:
                    break
            target = neighbours[row_start + chosen]
            if occupancy[target] < capacity[target]:
                occupancy[v] -= 1
                occupancy[target] += 1
                voxel[i] = target
                moved[i] += 1
