"""Counter-based random numbers: kernel vs twin vs a pure-Python hash, and the stream API."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mscabm import _kernels, _reference
from mscabm.random import EntityKind, Purpose, RandomStream

REPO = Path(__file__).resolve().parents[1]
MASK64 = (1 << 64) - 1


# --- an independent pure-Python implementation of the documented mapping -------------------


def py_mix(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def py_key(seed: int, step: int, purpose: int, kind: int, entity: int, draw: int) -> int:
    k = py_mix(seed)
    k = py_mix(k ^ (step & MASK64))
    k = py_mix(k ^ ((purpose << 32) | kind))
    k = py_mix(k ^ entity)
    return py_mix(k ^ draw)


def py_uniform(*key: int) -> float:
    return (py_key(*key) >> 11) / 2.0**53


def test_pure_python_mix_reproduces_published_splitmix64_outputs():
    # The reference SplitMix64 generator seeded with 0 returns mix(0), mix(gamma), ...
    assert py_mix(0) == 0xE220A8397B1DCDAF
    assert py_mix(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4


def test_first_keys_for_seed0_step0_are_pinned():
    ids = np.array([0, 1, 2], dtype=np.uint64)
    keys = _kernels.hash_keys(0, 0, 0, 0, ids, 0)
    expected = [0x78AE5A9A6B5FD45E, 0x2D6527BA78AF243F, 0x331480C509CACF0D]
    assert [int(k) for k in keys] == expected
    assert [py_key(0, 0, 0, 0, i, 0) for i in range(3)] == expected


def test_first_uniforms_for_seed0_step0_match_pure_python():
    ids = np.arange(6, dtype=np.uint64)
    got = _kernels.uniform(0, 0, Purpose.CELL_CYCLE, EntityKind.CELL, ids, 0)
    want = [py_uniform(0, 0, 1, 1, i, 0) for i in range(6)]
    assert got.tolist() == want
    matrix = _kernels.uniform_matrix(0, 0, Purpose.CELL_CYCLE, EntityKind.CELL, ids, 4)
    assert matrix.tolist() == [[py_uniform(0, 0, 1, 1, i, d) for d in range(4)] for i in range(6)]


@pytest.mark.parametrize(
    ("seed", "step", "purpose", "kind", "draw"),
    [
        (0, 0, 0, 0, 0),
        (12345, 17, 3, 1, 2),
        (MASK64, -1, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (2**63 + 5, -(2**63), 10, 4, 7),
        (987654321987654321, 2**63 - 1, 6, 2, 0),
    ],
)
def test_kernel_matches_twin_and_pure_python_exactly(seed, step, purpose, kind, draw):
    gen = np.random.default_rng(seed % 1000)
    ids = gen.integers(0, 2**64 - 1, size=257, dtype=np.uint64, endpoint=True)
    ids[:3] = [0, 1, MASK64]
    keys = _kernels.hash_keys(seed, step, purpose, kind, ids, draw)
    assert keys.dtype == np.uint64
    np.testing.assert_array_equal(keys, _reference.hash_keys(seed, step, purpose, kind, ids, draw))
    for i in (0, 1, 2, 100, 256):
        assert int(keys[i]) == py_key(seed, step, purpose, kind, int(ids[i]), draw)
    u = _kernels.uniform(seed, step, purpose, kind, ids, draw)
    assert u.tobytes() == _reference.uniform(seed, step, purpose, kind, ids, draw).tobytes()
    first = min(draw, 2**32 - 3)
    m = _kernels.uniform_matrix(seed, step, purpose, kind, ids, 3, first)
    assert m.shape == (257, 3)
    twin = _reference.uniform_matrix(seed, step, purpose, kind, ids, 3, first)
    assert m.tobytes() == twin.tobytes()


def test_uniform_matrix_columns_are_draw_indices():
    ids = np.arange(50, dtype=np.uint64)
    m = _kernels.uniform_matrix(7, 3, 2, 1, ids, 5, first_draw=10)
    for j in range(5):
        np.testing.assert_array_equal(m[:, j], _kernels.uniform(7, 3, 2, 1, ids, 10 + j))


def test_uniform_range_and_moments_over_a_million_draws():
    ids = np.arange(1_000_000, dtype=np.uint64)
    u = _kernels.uniform(2024, 5, Purpose.FATE, EntityKind.CELL, ids)
    assert u.min() >= 0.0
    assert u.max() < 1.0
    # standard errors: mean 2.9e-4, variance 7.5e-5 (1/sqrt(180 n)); allow about 7 of them
    assert abs(u.mean() - 0.5) < 2e-3
    assert abs(u.var() - 1.0 / 12.0) < 5e-4
    # multiples of 2**-53 exactly
    np.testing.assert_array_equal(np.ldexp(u, 53), np.floor(np.ldexp(u, 53)))
    # crude independence of neighbouring ids
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5e-3


def test_different_key_fields_give_different_streams():
    ids = np.arange(1000, dtype=np.uint64)
    base = _kernels.uniform(1, 2, 3, 1, ids, 0)
    variants = {
        "seed": _kernels.uniform(2, 2, 3, 1, ids, 0),
        "step": _kernels.uniform(1, 3, 3, 1, ids, 0),
        "purpose": _kernels.uniform(1, 2, 4, 1, ids, 0),
        "kind": _kernels.uniform(1, 2, 3, 2, ids, 0),
        "draw": _kernels.uniform(1, 2, 3, 1, ids, 1),
        "ids": _kernels.uniform(1, 2, 3, 1, ids + np.uint64(1), 0),
    }
    for name, other in variants.items():
        assert np.count_nonzero(other == base) == 0, name
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.15, name
    # purpose and kind share one word: (3, 1) must differ from (1, 3) and from (0, 3 << 32 ...)
    swapped = _kernels.uniform(1, 2, 1, 3, ids, 0)
    assert np.count_nonzero(swapped == base) == 0


@pytest.mark.parametrize(
    "bad_seed", [-1, 2**64, 1.0, True, "1", None, np.int64(1), np.uint32(1), np.float64(2)]
)
def test_bad_seeds_are_rejected(bad_seed):
    with pytest.raises(ValueError, match="seed"):
        RandomStream(bad_seed)
    with pytest.raises(ValueError, match="seed"):
        _kernels.uniform(bad_seed, 0, 1, 1, np.zeros(1, np.uint64))


def test_numpy_uint64_seed_equals_int_seed():
    ids = np.arange(10)
    big = 2**64 - 2
    a = RandomStream(np.uint64(big)).uniform(0, Purpose.FATE, EntityKind.CELL, ids)
    b = RandomStream(big).uniform(0, Purpose.FATE, EntityKind.CELL, ids)
    np.testing.assert_array_equal(a, b)
    assert RandomStream(np.uint64(big)).seed == big
    assert type(RandomStream(np.uint64(big)).seed) is int


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step": 2**63}, "step"),
        ({"purpose": -1}, "purpose"),
        ({"kind": 2**32}, "kind"),
        ({"draw": 2**32}, "draw"),
        ({"draw": 1.5}, "draw"),
    ],
)
def test_bad_key_scalars_are_rejected(kwargs, match):
    args = {"seed": 1, "step": 0, "purpose": 1, "kind": 1, "draw": 0} | kwargs
    ids = np.zeros(2, np.uint64)
    with pytest.raises(ValueError, match=match):
        _kernels.uniform(args["seed"], args["step"], args["purpose"], args["kind"], ids,
                         args["draw"])  # fmt: skip


def test_kernel_wrapper_rejects_wrong_ids():
    with pytest.raises(ValueError, match="dtype uint64"):
        _kernels.hash_keys(1, 0, 1, 1, np.arange(4, dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.hash_keys(1, 0, 1, 1, np.arange(8, dtype=np.uint64)[::2])
    with pytest.raises(ValueError, match="shape"):
        _kernels.hash_keys(1, 0, 1, 1, np.zeros((2, 2), dtype=np.uint64))
    with pytest.raises(ValueError, match="n_draws"):
        _kernels.uniform_matrix(1, 0, 1, 1, np.zeros(2, np.uint64), 3, first_draw=2**32 - 2)


def test_empty_ids():
    assert _kernels.uniform(1, 0, 1, 1, np.zeros(0, np.uint64)).shape == (0,)
    assert _kernels.uniform_matrix(1, 0, 1, 1, np.zeros(0, np.uint64), 4).shape == (0, 4)
    assert RandomStream(3).permutation(0, 1, 1, []).shape == (0,)


# --- RandomStream ---------------------------------------------------------------------------


def test_stream_has_no_hidden_state_and_is_frozen():
    stream = RandomStream(99)
    first = stream.uniform(4, Purpose.CELL_CYCLE, EntityKind.CELL, [5, 6, 7])
    stream.normal(4, Purpose.CELL_CYCLE, EntityKind.CELL, np.arange(100))
    stream.uniforms(5, Purpose.FATE, EntityKind.VOXEL, np.arange(100), 3)
    again = stream.uniform(4, Purpose.CELL_CYCLE, EntityKind.CELL, [5, 6, 7])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(
        first, RandomStream(99).uniform(4, Purpose.CELL_CYCLE, EntityKind.CELL, [5, 6, 7])
    )
    assert [f.name for f in dataclasses.fields(stream)] == ["seed"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        stream.seed = 3  # type: ignore[misc]


def test_stream_uniform_matches_pure_python_and_keeps_shape():
    stream = RandomStream(2**40 + 3)
    ids = np.array([[1, 2, 3], [40, 50, 2**63]], dtype=np.uint64)
    u = stream.uniform(-3, Purpose.SHEDDING, EntityKind.COLUMN, ids, draw=4)
    assert u.shape == (2, 3)
    want = [[py_uniform(2**40 + 3, -3, 8, 3, int(i), 4) for i in row] for row in ids]
    assert u.tolist() == want
    many = stream.uniforms(-3, Purpose.SHEDDING, EntityKind.COLUMN, ids, 5)
    assert many.shape == (2, 3, 5)
    np.testing.assert_array_equal(many[..., 4], u)
    # python-int ids beyond int64 and plain lists work too
    assert stream.uniform(0, 1, 1, [2**64 - 1]).tolist() == [py_uniform(2**40 + 3, 0, 1, 1,
                                                                         2**64 - 1, 0)]  # fmt: skip


@pytest.mark.parametrize("bad_ids", [[-1, 2], [2**64], [0.5], ["a"]])
def test_stream_rejects_bad_ids(bad_ids):
    with pytest.raises(ValueError, match="ids"):
        RandomStream(1).uniform(0, 1, 1, bad_ids)


def test_normal_is_box_muller_of_documented_draws():
    stream = RandomStream(11)
    ids = np.arange(20)
    z = stream.normal(7, Purpose.SECRETION_NOISE, EntityKind.CELL, ids, draw=3)
    u = stream.uniforms(7, Purpose.SECRETION_NOISE, EntityKind.CELL, ids, 8)
    want = np.sqrt(-2.0 * np.log1p(-u[:, 6])) * np.cos(2.0 * np.pi * u[:, 7])
    np.testing.assert_array_equal(z, want)
    big = stream.normal(1, Purpose.SECRETION_NOISE, EntityKind.CELL, np.arange(200_000))
    assert abs(big.mean()) < 0.015
    assert abs(big.var() - 1.0) < 0.02
    assert np.isfinite(big).all()


def test_exponential_and_lognormal():
    stream = RandomStream(5)
    ids = np.arange(200_000)
    e = stream.exponential(0, Purpose.CELL_CYCLE, EntityKind.CELL, ids, mean=3.0)
    assert e.min() >= 0.0
    assert abs(e.mean() / 3.0 - 1.0) < 0.015
    u = stream.uniform(0, Purpose.CELL_CYCLE, EntityKind.CELL, ids)
    np.testing.assert_array_equal(e, -3.0 * np.log1p(-u))

    x = stream.lognormal(0, Purpose.CELL_CYCLE, EntityKind.CELL, ids, mean=20.0, cv=0.3)
    assert x.min() > 0.0
    assert abs(x.mean() / 20.0 - 1.0) < 0.01
    assert abs(x.std() / x.mean() - 0.3) < 0.01
    exact = stream.lognormal(0, Purpose.CELL_CYCLE, EntityKind.CELL, [1, 2], mean=20.0, cv=0.0)
    assert exact.tolist() == [20.0, 20.0]
    per_cell = stream.lognormal(0, 1, 1, [1, 2], mean=[1.0, 2.0], cv=[0.0, 0.5])
    assert per_cell[0] == 1.0
    assert per_cell[1] != 2.0
    with pytest.raises(ValueError, match="mean"):
        stream.lognormal(0, 1, 1, [1], mean=0.0, cv=0.1)
    with pytest.raises(ValueError, match="cv"):
        stream.lognormal(0, 1, 1, [1], mean=1.0, cv=-0.1)


def test_priority_and_permutation():
    stream = RandomStream(8)
    ids = np.array([30, 10, 20, 10, 40, 30], dtype=np.uint64)
    prio = stream.priority(2, Purpose.MOVE_ORDER, EntityKind.CELL, ids)
    assert prio.dtype == np.uint64
    np.testing.assert_array_equal(prio, _kernels.hash_keys(8, 2, 5, 1, ids, 0))
    order = stream.permutation(2, Purpose.MOVE_ORDER, EntityKind.CELL, ids)
    assert order.dtype == np.int64
    assert sorted(order.tolist()) == list(range(6))
    # by hash, duplicate ids (equal hashes) adjacent and in their original positions' order
    want = sorted(range(6), key=lambda i: (py_key(8, 2, 5, 1, int(ids[i]), 0), int(ids[i]), i))
    assert order.tolist() == want
    # the processing order of an id does not depend on which other ids are present
    sub = stream.permutation(2, Purpose.MOVE_ORDER, EntityKind.CELL, ids[[0, 2, 4]])
    full_ids = [int(ids[i]) for i in order if int(ids[i]) in (20, 30, 40)]
    assert [int(ids[[0, 2, 4]][i]) for i in sub] == list(dict.fromkeys(full_ids))
    # different steps shuffle differently
    many = np.arange(1000)
    assert not np.array_equal(stream.permutation(1, 5, 1, many), stream.permutation(2, 5, 1, many))
    with pytest.raises(ValueError, match="one-dimensional"):
        stream.permutation(2, 5, 1, np.zeros((2, 2), dtype=np.uint64))


def test_enum_values_are_the_documented_ones():
    assert {p.name: int(p) for p in Purpose} == {
        "CELL_CYCLE": 1, "DIVISION_PLACEMENT": 2, "DIFFERENTIATION": 3, "FATE": 4,
        "MOVE_ORDER": 5, "MOVE_DIRECTION": 6, "INITIAL_STATE": 7, "SHEDDING": 8,
        "SECRETION_NOISE": 9, "PARAKERATOSIS": 10,
        "BASAL_MIGRATION": 11, "COLUMN_LEVELLING": 12, "IMMUNE_FATE": 13, "RECRUITMENT": 14,
        "IMMUNE_PLACEMENT": 15, "EFFEROCYTOSIS": 16, "NET_CLEARANCE": 17, "IMMUNE_SEEDING": 18,
        "IMMUNE_HOPS": 19,
    }  # fmt: skip
    assert {k.name: int(k) for k in EntityKind} == {"CELL": 1, "VOXEL": 2, "COLUMN": 3, "GLOBAL": 4}


# --- thread-count independence -------------------------------------------------------------

THREAD_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    from mscabm import _kernels
    ids = np.random.default_rng(1).integers(0, 2**63, size=300_001, dtype=np.int64)
    ids = ids.astype(np.uint64)
    outputs = [
        _kernels.hash_keys(2**64 - 7, 12, 3, 1, ids, 2),
        _kernels.uniform(5, -4, 1, 2, ids, 0),
        _kernels.uniform_matrix(5, 9, 6, 1, ids, 3, 1),
    ]
    print(" ".join(hashlib.sha256(o.tobytes()).hexdigest() for o in outputs))
    """
)


def run_with_threads(script: str, n_threads: int) -> str:
    env = dict(os.environ, OMP_NUM_THREADS=str(n_threads), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
        timeout=120,
    )  # fmt: skip
    return done.stdout.strip()


def test_bit_identical_with_one_or_two_threads():
    one = run_with_threads(THREAD_SCRIPT, 1)
    two = run_with_threads(THREAD_SCRIPT, 2)
    assert len(one.split()) == 3
    assert one == two
