"""Hill-rule evaluation: hand-worked cases, kernel vs NumPy twin, validation, threads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mscabm import _kernels, _reference
from mscabm._kernels import CompiledRules

REPO = Path(__file__).resolve().parents[1]
UP, DOWN = 1, -1


def tables(n_types: int, n_behaviours: int, base=1.0, up=3.0, down=0.0):
    shape = (n_types, n_behaviours)
    return np.full(shape, base), np.full(shape, up), np.full(shape, down)


def both(signals, cell_type, base, sat_up, sat_down, rules: CompiledRules) -> np.ndarray:
    """Evaluate with the kernel, check the twin agrees to 1e-12, return the kernel's values."""
    signals = np.ascontiguousarray(signals, dtype=np.float64)
    cell_type = np.asarray(cell_type, dtype=np.int32)
    got = _kernels.evaluate_rules(signals, cell_type, base, sat_up, sat_down, *rules.arrays())
    twin = _reference.evaluate_rules(signals, cell_type, base, sat_up, sat_down, *rules.arrays())
    assert got.shape == (cell_type.shape[0], base.shape[1])
    assert np.linalg.norm(got - twin) <= 1e-12 * max(np.linalg.norm(twin), 1e-300)
    return got


# --- hand-worked cases --------------------------------------------------------------------


def test_one_rule_at_half_max_goes_half_way():
    rules = CompiledRules.from_rules([(0, 0, UP, [(0, 4.0, 2.0)])])
    b = both([[4.0]], [0], *tables(1, 1, base=1.0, up=3.0), rules)
    assert b[0, 0] == pytest.approx(2.0, rel=1e-15)


def test_hill_value_by_hand():
    # s = 2, K = 1, n = 2: H = 4 / (1 + 4) = 0.8; b = 1 + (3 - 1) * 0.8 = 2.6
    rules = CompiledRules.from_rules([(0, 0, UP, [(0, 1.0, 2.0)])])
    b = both([[2.0]], [0], *tables(1, 1), rules)
    assert b[0, 0] == pytest.approx(2.6, rel=1e-15)
    # n = 1, s = 3, K = 1: H = 3/4, decreasing from base 2 to 0: b = 2 - 2 * 0.75 = 0.5
    rules = CompiledRules.from_rules([(0, 0, DOWN, [(0, 1.0, 1.0)])])
    b = both([[3.0]], [0], *tables(1, 1, base=2.0, down=0.0), rules)
    assert b[0, 0] == pytest.approx(0.5, rel=1e-15)


def test_two_increasing_rules_combine_as_independent_chances():
    rules = CompiledRules.from_rules([(0, 0, UP, [(0, 2.0, 1.0)]), (0, 0, UP, [(1, 5.0, 3.0)])])
    b = both([[2.0, 5.0]], [0], *tables(1, 1, base=0.0, up=1.0), rules)
    assert b[0, 0] == pytest.approx(0.75, rel=1e-15)  # U = 1 - 0.5 * 0.5


def test_and_rule_multiplies_its_terms():
    rules = CompiledRules.from_rules([(0, 0, UP, [(0, 2.0, 1.0), (1, 5.0, 3.0)])])
    b = both([[2.0, 5.0]], [0], *tables(1, 1, base=0.0, up=1.0), rules)
    assert b[0, 0] == pytest.approx(0.25, rel=1e-15)
    # one signal absent: the AND rule does nothing
    b = both([[2.0, 0.0]], [0], *tables(1, 1, base=0.0, up=1.0), rules)
    assert b[0, 0] == 0.0


def test_increasing_then_decreasing():
    # base 1, up 5, down 0; H_up = H_down = 0.5: b = 1 + 4 * 0.5 = 3, then 3 + (0 - 3) * 0.5
    rules = CompiledRules.from_rules([(0, 0, DOWN, [(1, 7.0, 2.0)]), (0, 0, UP, [(0, 2.0, 1.0)])])
    b = both([[2.0, 7.0]], [0], *tables(1, 1, base=1.0, up=5.0, down=0.0), rules)
    assert b[0, 0] == pytest.approx(1.5, rel=1e-15)


def test_decreasing_rule_can_start_from_zero_base_and_raise():
    # PhysiCell's form: a "decreasing" rule moves towards its saturation, even upwards
    rules = CompiledRules.from_rules([(0, 0, DOWN, [(0, 1.0, 1.0)])])
    b = both([[1.0]], [0], *tables(1, 1, base=0.0, down=4.0), rules)
    assert b[0, 0] == pytest.approx(2.0, rel=1e-15)


def test_zero_negative_huge_and_infinite_signals():
    rules = CompiledRules.from_rules([(0, 0, UP, [(0, 3.0, 2.0)])])
    base, up, down = tables(1, 1, base=1.0, up=3.0)
    b = both([[0.0], [-5.0], [1e300], [np.inf], [1e-320]], [0] * 5, base, up, down, rules)
    assert b[:, 0].tolist() == [1.0, 1.0, 3.0, 3.0, 1.0]


def test_hill_power_zero_gives_half_for_any_positive_signal():
    rules = CompiledRules.from_rules([(0, 0, UP, [(0, 3.0, 0.0)])])
    base, up, down = tables(1, 1, base=1.0, up=3.0)
    b = both([[0.0], [1e-300], [3.0], [1e300], [np.inf]], [0] * 5, base, up, down, rules)
    assert b[:, 0].tolist() == [1.0, 2.0, 2.0, 2.0, 2.0]


def test_rules_only_touch_their_type_and_behaviour():
    rules = CompiledRules.from_rules([(1, 2, UP, [(0, 1.0, 1.0)])])
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    up = base + 100.0
    down = base - 100.0
    b = both([[1.0], [1.0], [1.0]], [0, 1, 2], base, up, down, rules)
    expected = base.copy()
    expected[1, 2] = base[1, 2] + 50.0
    np.testing.assert_array_equal(b, expected)


def test_no_rules_and_no_cells():
    empty = CompiledRules.from_rules([])
    base, up, down = tables(2, 3, base=0.7)
    b = both(np.zeros((4, 2)), [0, 1, 1, 0], base, up, down, empty)
    np.testing.assert_array_equal(b, np.full((4, 3), 0.7))
    rules = CompiledRules.from_rules([(0, 0, UP, [(1, 1.0, 1.0)])])
    for no_signals in (np.zeros((0, 2)), np.zeros(0)):
        assert both(no_signals, [], base, up, down, rules).shape == (0, 3)


def test_rule_order_does_not_matter():
    gen = np.random.default_rng(3)
    rules, signals, cell_type, base, up, down = random_problem(gen, n_cells=50)
    got = _kernels.evaluate_rules(signals, cell_type, base, up, down, *rules.arrays())
    perm = gen.permutation(rules.n_rules)
    shuffled = CompiledRules.from_rules([rule_tuples(rules)[i] for i in perm])
    again = _kernels.evaluate_rules(signals, cell_type, base, up, down, *shuffled.arrays())
    np.testing.assert_allclose(again, got, rtol=1e-14, atol=1e-14)


def test_raveled_signals_are_accepted():
    rules = CompiledRules.from_rules([(0, 1, UP, [(2, 1.0, 1.0)])])
    signals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    base, up, down = tables(1, 2, base=0.0, up=1.0)
    flat = _kernels.evaluate_rules(signals.ravel(), np.zeros(2, np.int32), base, up, down,
                                   *rules.arrays())  # fmt: skip
    np.testing.assert_allclose(flat[:, 1], [0.5, 0.75], rtol=1e-15)


# --- random problems: kernel vs twin -------------------------------------------------------


def rule_tuples(rules: CompiledRules) -> list:
    out = []
    for r in range(rules.n_rules):
        lo, hi = rules.rule_term_start[r], rules.rule_term_start[r + 1]
        terms = [
            (int(rules.term_signal[t]), float(rules.term_half_max[t]),
             float(rules.term_hill_power[t]))
            for t in range(lo, hi)
        ]  # fmt: skip
        out.append((int(rules.rule_type[r]), int(rules.rule_behaviour[r]),
                    int(rules.rule_direction[r]), terms))  # fmt: skip
    return out


def random_problem(gen, n_cells=400, n_signals=6, n_types=3, n_behaviours=5, n_rules=25):
    rule_list = []
    for _ in range(n_rules):
        n_terms = int(gen.integers(1, 4))
        terms = [
            (int(gen.integers(n_signals)), float(gen.lognormal(0.0, 1.0)),
             float(gen.choice([0.0, 0.5, 1.0, 2.0, 3.7, 8.0])))
            for _ in range(n_terms)
        ]  # fmt: skip
        rule_list.append((int(gen.integers(n_types)), int(gen.integers(n_behaviours)),
                          int(gen.choice([UP, DOWN])), terms))  # fmt: skip
    signals = gen.lognormal(0.0, 1.5, size=(n_cells, n_signals))
    signals[gen.random(signals.shape) < 0.1] = 0.0
    signals[gen.random(signals.shape) < 0.05] *= -1.0
    cell_type = gen.integers(n_types, size=n_cells).astype(np.int32)
    base = gen.random((n_types, n_behaviours))
    up = base + gen.random((n_types, n_behaviours)) * 5.0
    down = base * gen.random((n_types, n_behaviours))
    return CompiledRules.from_rules(rule_list), signals, cell_type, base, up, down


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_kernel_matches_twin_on_random_problems(seed):
    gen = np.random.default_rng(seed)
    rules, signals, cell_type, base, up, down = random_problem(gen)
    got = both(signals, cell_type, base, up, down, rules)
    assert np.isfinite(got).all()
    # every value lies between the extremes of its base and saturation values
    lo = np.minimum.reduce([base, up, down])[cell_type]
    hi = np.maximum.reduce([base, up, down])[cell_type]
    assert np.all(got >= lo - 1e-12)
    assert np.all(got <= hi + 1e-12)


def test_twin_comparison_can_fail():
    gen = np.random.default_rng(9)
    rules, signals, cell_type, base, up, down = random_problem(gen)
    got = _kernels.evaluate_rules(signals, cell_type, base, up, down, *rules.arrays())
    # nudging the half-max values by 0.1 % changes the twin by far more than the tolerance
    half_max = rules.term_half_max.copy()
    half_max *= 1.001
    twin = _reference.evaluate_rules(
        signals, cell_type, base, up, down, rules.rule_type, rules.rule_behaviour,
        rules.rule_direction, rules.rule_term_start, rules.term_signal, half_max,
        rules.term_hill_power,
    )  # fmt: skip
    assert np.linalg.norm(got - twin) > 1e-12 * np.linalg.norm(twin)


# --- validation ---------------------------------------------------------------------------


def valid_args():
    rules = CompiledRules.from_rules([(0, 0, UP, [(1, 1.0, 2.0)]), (1, 1, DOWN, [(0, 2.0, 1.0)])])
    base, up, down = tables(2, 2)
    return {
        "signals": np.ones((3, 2)), "cell_type": np.array([0, 1, 0], np.int32),
        "base": base, "saturation_up": up, "saturation_down": down,
        "rule_type": rules.rule_type.copy(), "rule_behaviour": rules.rule_behaviour.copy(),
        "rule_direction": rules.rule_direction.copy(),
        "rule_term_start": rules.rule_term_start.copy(), "term_signal": rules.term_signal.copy(),
        "term_half_max": rules.term_half_max.copy(),
        "term_hill_power": rules.term_hill_power.copy(),
    }  # fmt: skip


def test_valid_args_pass():
    assert _kernels.evaluate_rules(**valid_args()).shape == (3, 2)


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("signals", np.ones((3, 2), dtype=np.float32), "dtype float64"),
        ("signals", np.ones((2, 3))[:, :2], "shape|C-contiguous"),
        ("signals", np.asfortranarray(np.ones((3, 2))), "C-contiguous"),
        ("signals", np.array([[1.0, np.nan]] * 3), "NaN"),
        ("signals", np.ones(7), "multiple"),
        ("cell_type", np.array([0, 2, 0], np.int32), "cell_type"),
        ("cell_type", np.array([0, 1, 0], np.int64), "dtype int32"),
        ("saturation_up", np.ones((2, 3)), "shape"),
        ("base", np.array([[1.0, np.inf], [0.0, 0.0]]), "finite"),
        ("rule_direction", np.array([1, 0], np.int8), "direction"),
        ("rule_behaviour", np.array([0, 2], np.int32), "rule_behaviour"),
        ("rule_type", np.array([0, -1], np.int32), "rule_type"),
        ("rule_term_start", np.array([0, 0, 2], np.int32), "at least one term"),
        ("rule_term_start", np.array([0, 1, 3], np.int32), "end"),
        ("term_signal", np.array([1, 2], np.int32), "term_signal"),
        ("term_half_max", np.array([1.0, 0.0]), "half_max"),
        ("term_hill_power", np.array([1.0, -1.0]), "hill_power"),
        ("term_hill_power", [1.0, 1.0], "numpy array"),
    ],
)
def test_invalid_inputs_raise_clear_errors(name, value, match):
    args = valid_args()
    args[name] = value
    with pytest.raises(ValueError, match=match):
        _kernels.evaluate_rules(**args)


def test_compiled_rules_are_read_only_and_evaluate():
    rules = CompiledRules.from_rules([(0, 0, UP, [(0, 4.0, 2.0)])])
    assert rules.rule_direction.dtype == np.int8
    assert rules.rule_term_start.tolist() == [0, 1]
    with pytest.raises(ValueError, match="read-only"):
        rules.term_half_max[0] = 2.0
    base, up, down = tables(1, 1)
    assert rules.evaluate(np.array([[4.0]]), np.zeros(1, np.int32), base, up, down)[0, 0] == 2.0


# --- thread-count independence ------------------------------------------------------------

THREAD_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_rules_kernel import random_problem
    from mscabm import _kernels
    gen = np.random.default_rng(42)
    rules, signals, cell_type, base, up, down = random_problem(gen, n_cells=100_001)
    out = _kernels.evaluate_rules(signals, cell_type, base, up, down, *rules.arrays())
    print(hashlib.sha256(out.tobytes()).hexdigest())
    """
).format(tests=str(REPO / "tests"))


def run_with_threads(n_threads: int) -> str:
    env = dict(os.environ, OMP_NUM_THREADS=str(n_threads), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", THREAD_SCRIPT], env=env, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    return done.stdout.strip()


def test_bit_identical_with_one_or_two_threads():
    one = run_with_threads(1)
    assert len(one) == 64
    assert one == run_with_threads(2)


def test_shared_terms_give_the_bits_of_terms_computed_rule_by_rule():
    """Terms that rules of one type share (same signal, half-max, power) are computed once
    per cell; the values are those of each rule computing its own terms, bit for bit (a
    scalar loop in the kernel's order, powers 1 and 2 being exact in Python floats)."""
    gen = np.random.default_rng(11)
    pool = [(int(gen.integers(4)), float(gen.lognormal()), float(gen.choice([1.0, 2.0])))
            for _ in range(5)]  # fmt: skip
    rule_list = []
    for _ in range(40):
        terms = [pool[int(k)] for k in gen.choice(len(pool), int(gen.integers(1, 3)), False)]
        rule_list.append((int(gen.integers(2)), int(gen.integers(6)),
                          int(gen.choice([UP, DOWN])), terms))  # fmt: skip
    rules = CompiledRules.from_rules(rule_list)
    signals = gen.lognormal(0.0, 1.5, size=(50, 4))
    signals[::7, 1] = 0.0
    cell_type = gen.integers(2, size=50).astype(np.int32)
    base, up, down = tables(2, 6, base=0.4, up=2.5, down=0.1)
    got = both(signals, cell_type, base, up, down, rules)

    def hill(s, k, n):
        if not s > 0.0:
            return 0.0
        ratio = k / s
        return 1.0 / (1.0 + ratio * ratio) if n == 2.0 else 1.0 / (1.0 + ratio)

    for i, t in enumerate(cell_type.tolist()):
        for j in range(6):
            keep_up = keep_down = 1.0
            for rule_type, behaviour, direction, terms in rule_list:  # stable (type, behaviour)
                if (rule_type, behaviour) != (t, j):
                    continue
                h = 1.0
                for signal, k, n in terms:
                    h = h * hill(float(signals[i, signal]), k, n)
                if direction > 0:
                    keep_up = keep_up * (1.0 - h)
                else:
                    keep_down = keep_down * (1.0 - h)
            b = base[t, j] + (up[t, j] - base[t, j]) * (1.0 - keep_up)
            b = b + (down[t, j] - b) * (1.0 - keep_down)
            assert got[i, j] == b


# --- the signal matrix the rules read (gather_signals) -----------------------------------


def test_gather_signals_by_hand():
    # a line of 3 voxels (0 - 1 - 2, outside past both ends); width 2 counts plus NETs
    conc = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    neighbours = np.array([[-1, 1], [0, 2], [1, -1]])
    counts = np.array([[1, 0, 0], [1, 1, 1], [0, 2, 0], [0, 0, 0]])  # row 3: off the lattice
    membership = np.array([[True, False], [False, True]])
    got = _kernels.gather_signals(
        conc,
        np.array([1, 0]),
        np.array([4, 0]),
        6,
        counts=counts,
        neighbours=neighbours,
        count_columns=np.array([1, -1, 2]),
        own_type=np.array([0, -1], dtype=np.int32),
        membership=membership,
    )
    # field 1 goes to column 0, field 0 to column 4; count column 1 is not written
    # cell 0 at voxel 1: group 0 sees 1 + 1 + 0 minus itself = 1, NETs 1 + 0 + 0 = 1
    # cell 1 at voxel 0 (no own type): group 0 sees 1 + 1 = 2, NETs 0 + 1 = 1
    assert got.tolist() == [[20.0, 1.0, 1.0, 0.0, 2.0, 0.0], [10.0, 2.0, 1.0, 0.0, 1.0, 0.0]]
    no_contact = _kernels.gather_signals(conc, np.array([2]), np.array([1, 0]), 2)
    assert no_contact.tolist() == [[30.0, 3.0]]


@pytest.mark.parametrize("seed", range(6))
def test_gather_signals_matches_its_twin(seed):
    rng = np.random.default_rng(seed)
    n_voxels, n_fields, width, n_codes = int(rng.integers(1, 60)), int(rng.integers(0, 5)), 5, 4
    n_groups = int(rng.integers(0, width + 1))
    n_signals = n_fields + width + 3
    columns = rng.permutation(n_signals)
    field_columns = columns[:n_fields].astype(np.int64)
    count_columns = columns[n_fields : n_fields + width].astype(np.int64)
    count_columns[rng.random(width) < 0.3] = -1
    counts = rng.integers(0, 4, (n_voxels + 1, width)).astype(np.int64)
    counts[n_voxels] = 0
    neighbours = rng.integers(-1, n_voxels, (n_voxels, 4)).astype(np.int64)
    n_cells = int(rng.integers(0, 80))
    voxels = rng.integers(0, n_voxels, n_cells).astype(np.int64)
    own_type = rng.integers(-1, n_codes, n_cells).astype(np.int32)
    membership = rng.random((n_codes, n_groups)) < 0.5
    conc = rng.normal(size=(n_fields, n_voxels))
    contact = {"counts": counts, "neighbours": neighbours, "count_columns": count_columns}
    for extra in ({}, contact, {**contact, "own_type": own_type, "membership": membership}):
        got = _kernels.gather_signals(conc, voxels, field_columns, n_signals, **extra)
        want = _reference.gather_signals(conc, voxels, field_columns, n_signals, **extra)
        assert got.shape == (n_cells, n_signals)
        assert np.array_equal(got, want)


def test_gather_signals_rejects_bad_input():
    conc = np.zeros((1, 3))
    neighbours = np.full((3, 2), -1, dtype=np.int64)
    counts = np.zeros((4, 2), dtype=np.int64)
    contact = {"counts": counts, "neighbours": neighbours, "count_columns": np.array([1, 2])}
    voxels, fields = np.array([0, 2]), np.array([0])
    cases = [
        ((conc, np.array([3]), fields, 3), {}, "voxels must be in"),
        ((conc, voxels, np.array([3]), 3), {}, "field_columns must be in"),
        ((conc, voxels, fields, 3), {**contact, "count_columns": np.array([0, 2])}, "once"),
        ((conc, voxels, fields, 3), {"counts": counts}, "go together"),
        ((conc, voxels, fields, 3), {"own_type": np.zeros(2, dtype=np.int32)}, "need counts"),
        ((conc, voxels, fields, 3), {**contact, "count_columns": np.array([1, 3])}, "in \\[-1"),
        ((conc, voxels, fields, 3), {**contact, "membership": np.ones((1, 1), bool)}, "only"),
        ((conc, voxels, fields, 3), {**contact, "own_type": np.zeros(2, np.int32)}, "needs"),
        ((conc, voxels, fields, 3), {**contact, "neighbours": neighbours + 4}, "neighbours"),
        ((conc, voxels.astype(np.int32), fields, 3), {}, "dtype int64"),
    ]
    for args, keywords, match in cases:
        with pytest.raises(ValueError, match=match):
            _kernels.gather_signals(*args, **keywords)
    off = counts.copy()
    off[3, 0] = 1
    with pytest.raises(ValueError, match="off the lattice"):
        _kernels.gather_signals(conc, voxels, fields, 3, **{**contact, "counts": off})
    with pytest.raises(ValueError, match="rows of membership"):
        _kernels.gather_signals(
            conc, voxels, fields, 3, **contact,
            own_type=np.array([0, 1], dtype=np.int32), membership=np.ones((1, 2), bool),
        )  # fmt: skip
