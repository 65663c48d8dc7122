# cython: language_level=3
"""Counter-based random numbers shared by kernels (DESIGN.md, principle 7).

Every draw is a pure function of its key ``(seed, step, purpose, kind, entity_id, draw)``::

    k = mix(seed)
    k = mix(k ^ step)                        # step: int64 reinterpreted as uint64
    k = mix(k ^ ((purpose << 32) | kind))    # purpose, kind: uint32
    k = mix(k ^ entity_id)                   # uint64
    k = mix(k ^ draw)                        # uint32
    u = (k >> 11) * 2**-53                   # double in [0, 1)

where ``mix`` is the finaliser of SplitMix64 (all arithmetic modulo 2**64)::

    z += 0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    return z ^ (z >> 31)

The first three links depend only on the per-call scalars, so kernels compute them once
(:func:`key_prefix`) and finish each entity's key with :func:`key_finish`. Python-side twin:
``mscabm._reference.hash_keys``; user-facing documentation: ``mscabm.random``.
"""

from libc.stdint cimport int64_t, uint32_t, uint64_t


cdef inline uint64_t splitmix64_mix(uint64_t z) noexcept nogil:
    """SplitMix64 finaliser of ``z`` (modulo 2**64)."""
    z = z + <uint64_t>0x9E3779B97F4A7C15ULL
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t key_prefix(uint64_t seed, int64_t step, uint32_t purpose,
                                uint32_t kind) noexcept nogil:
    """The part of the key chain shared by every entity of one call."""
    cdef uint64_t k = splitmix64_mix(seed)
    k = splitmix64_mix(k ^ <uint64_t>step)
    k = splitmix64_mix(k ^ ((<uint64_t>purpose << 32) | <uint64_t>kind))
    return k


cdef inline uint64_t key_finish(uint64_t prefix, uint64_t entity_id,
                                uint32_t draw) noexcept nogil:
    """Finish the key chain for one entity and draw index."""
    cdef uint64_t k = splitmix64_mix(prefix ^ entity_id)
    return splitmix64_mix(k ^ <uint64_t>draw)


cdef inline double key_to_unit(uint64_t k) noexcept nogil:
    """Map a 64-bit key to a double in [0, 1): the top 53 bits times 2**-53 (exact)."""
    return <double>(k >> 11) * (1.0 / 9007199254740992.0)
