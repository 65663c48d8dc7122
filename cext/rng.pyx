# cython: language_level=3
"""Counter-based random-number kernels (wrapped by ``mscabm._kernels``; twin in ``_reference``).

Each output element is a pure function of its key (see ``rng.pxd``), so the loops are
elementwise and may run in parallel without changing a single bit.
"""

from cython.parallel cimport prange

# below this many items a loop runs on one thread (OpenMP start-up and barriers cost more)
cdef Py_ssize_t PARALLEL_MIN_WORK = 200000
from libc.stdint cimport int64_t, uint32_t, uint64_t

from rng cimport key_finish, key_prefix, key_to_unit


def hash_keys(uint64_t seed, int64_t step, uint32_t purpose, uint32_t kind,
              const uint64_t[::1] entity_ids, uint32_t draw, uint64_t[::1] out):
    """Write the 64-bit key of every entity for one draw index into ``out``."""
    cdef Py_ssize_t n = entity_ids.shape[0]
    cdef Py_ssize_t i
    cdef uint64_t prefix = key_prefix(seed, step, purpose, kind)
    with nogil:
        for i in prange(n, schedule="static", use_threads_if=n >= PARALLEL_MIN_WORK):
            out[i] = key_finish(prefix, entity_ids[i], draw)


def uniform_matrix(uint64_t seed, int64_t step, uint32_t purpose, uint32_t kind,
                   const uint64_t[::1] entity_ids, uint32_t first_draw, Py_ssize_t n_draws,
                   double[::1] out):
    """Write uniforms into ``out`` (raveled ``[n, n_draws]``): column j is draw ``first_draw + j``.

    ``uniform`` is the case ``n_draws == 1``.
    """
    cdef Py_ssize_t n = entity_ids.shape[0]
    cdef Py_ssize_t i, j
    cdef uint64_t prefix = key_prefix(seed, step, purpose, kind)
    with nogil:
        for i in prange(n, schedule="static", use_threads_if=n >= PARALLEL_MIN_WORK):
            for j in range(n_draws):
                out[i * n_draws + j] = key_to_unit(
                    key_finish(prefix, entity_ids[i], <uint32_t>(first_draw + j)))
