"""FieldSolver: the implicit diffusion-decay-uptake step against exact and continuum answers.

Acceptance numbers (engine issue): 6-minute step, D = 6,000 µm²/min, 10 µm voxels, half-life
10 min, so L = sqrt(D / λ) = sqrt(6000 · 10 / ln 2) µm ≈ 294 µm ≈ 29.4 voxels. Grids are the
smallest that keep far boundaries several L away from where the tolerances are checked.
"""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from scipy.special import k0

from mscabm.diffusion import FieldConvergenceError, FieldSolver

D_TISSUE = 6000.0  # µm²/min
VOXEL = 10.0  # µm
DT = 6.0  # min
DECAY = np.log(2.0) / 10.0  # 1/min, half-life 10 min
LENGTH_VOXELS = np.sqrt(D_TISSUE / DECAY) / VOXEL


# ----------------------------------------------------------------------------- helpers
def sparse_operator(shape, diffusion, decay, lateral_bc, bottom_fixed=False, dt=DT):
    """``I + dt (Λ - ∇·D∇)`` of one field as a CSR matrix, built face by face with np.roll.

    Returns the matrix and the vector that multiplies a fixed bottom value on the right side.
    """
    n = int(np.prod(shape))
    index = np.arange(n).reshape(shape)
    diffusion = np.broadcast_to(diffusion, shape)
    diag = 1.0 + dt * np.broadcast_to(decay, shape).astype(float).ravel()
    scale = dt / VOXEL**2
    rows, cols, vals = [], [], []
    for axis in range(len(shape)):
        here, there = index, np.roll(index, -1, axis=axis)
        d_here, d_there = diffusion, np.roll(diffusion, -1, axis=axis)
        if not (axis > 0 and lateral_bc == "periodic"):
            keep = [slice(None)] * len(shape)
            keep[axis] = slice(0, shape[axis] - 1)
            keep = tuple(keep)
            here, there, d_here, d_there = here[keep], there[keep], d_here[keep], d_there[keep]
        total = d_here + d_there
        face = np.divide(2 * d_here * d_there, total, out=np.zeros(total.shape), where=total > 0)
        weight = (scale * face).ravel()
        rows += [here.ravel(), there.ravel()]
        cols += [there.ravel(), here.ravel()]
        vals += [-weight, -weight]
        np.add.at(diag, here.ravel(), weight)
        np.add.at(diag, there.ravel(), weight)
    bottom = np.zeros(n)
    if bottom_fixed:
        bottom[index[0].ravel()] = scale * diffusion[0].ravel()
        diag[index[0].ravel()] += bottom[index[0].ravel()]
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    matrix = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return matrix, bottom


def sparse_steady_state(shape, diffusion, decay, source, lateral_bc):
    """Steady state ``(Λ - ∇·D∇) c = s``; closed voxels without loss are held at 0."""
    matrix, _ = sparse_operator(shape, diffusion, decay, lateral_bc, dt=1.0)
    matrix = (matrix - sp.identity(matrix.shape[0], format="csc")).tolil()
    empty = np.flatnonzero(np.isclose(matrix.diagonal(), 0.0, rtol=0, atol=1e-300))
    for row in empty:
        matrix[row, row] = 1.0
    rhs = np.asarray(source, dtype=float).ravel().copy()
    rhs[empty] = 0.0
    return spl.spsolve(matrix.tocsc(), rhs).reshape(shape)


def run_to_steady(solver, conc, source, max_steps=400):
    """Step until the largest change per step is below 1e-10 of the largest value."""
    for steps in range(1, max_steps + 1):
        before = conc.copy()
        solver.step(conc, source)
        if np.max(np.abs(conc - before)) < 1e-10 * np.max(np.abs(conc)):
            return steps
    raise AssertionError("no steady state")


def skin_coefficients(shape, n_fields=1, seed=0):
    """Undulating skin: air on top (D = 0), 2-voxel stratum corneum (D × 0.01), epidermis
    (12 voxels, decay × 2), dermis; 10 % of tissue voxels take up at 0.5/min."""
    rng = np.random.default_rng(seed)
    nz = shape[0]
    lateral = np.indices(shape[1:]).reshape(len(shape) - 1, -1)
    wave = sum(np.sin(2 * np.pi * (c + 0.5) / 16.0) for c in lateral).reshape(shape[1:])
    surface = np.round(0.8 * nz + 2.0 * wave).astype(int)
    z = np.arange(nz).reshape((nz,) + (1,) * (len(shape) - 1))
    air = z > surface
    corneum = ~air & (z > surface - 2)
    epidermis = ~air & ~corneum & (z > surface - 12)
    diffusion = np.where(air, 0.0, np.where(corneum, 0.01 * D_TISSUE, D_TISSUE))
    decay = np.where(epidermis | corneum, 2 * DECAY, DECAY)
    decay = decay + np.where((rng.random(shape) < 0.1) & ~air, 0.5, 0.0)
    scales = np.linspace(1.0, 2.0, n_fields)
    return (
        np.stack([diffusion * s for s in scales]),
        np.stack([decay] * n_fields),
        air,
        surface,
    )


# ------------------------------------------------------------ exactness of a single step
@pytest.mark.parametrize("shape", [(9, 8), (5, 4, 6)])
@pytest.mark.parametrize("lateral_bc", ["periodic", "no_flux"])
@pytest.mark.parametrize("kind", ["uniform", "layered", "voxel"])
def test_one_step_solves_the_discrete_system(shape, lateral_bc, kind):
    rng = np.random.default_rng(hash((shape, lateral_bc, kind)) % 2**32)
    n_fields = 3
    if kind == "uniform":
        diffusion = rng.uniform(100, 8000, n_fields)
        decay = rng.uniform(0, 0.2, n_fields)
    elif kind == "layered":
        diffusion = rng.uniform(100, 8000, (n_fields, shape[0]))
        diffusion[:, -2:] = 0.0  # air rows
        decay = rng.uniform(0, 0.2, (n_fields, shape[0]))
    else:
        diffusion = rng.uniform(100, 8000, (n_fields, *shape))
        diffusion[:, -1] = 0.0
        diffusion[:, -2, ..., :3] = 0.0
        decay = rng.uniform(0, 0.2, (n_fields, *shape))
    bottom_value = [0.0, 2.0, 5.0]
    solver = FieldSolver(
        shape, VOXEL, DT, n_fields, lateral_bc=lateral_bc,
        bottom_bc=["no_flux", "fixed", "fixed"], bottom_value=bottom_value,
    )  # fmt: skip
    solver.set_coefficients(diffusion, decay)
    conc = rng.uniform(0, 1, (n_fields, *shape))
    source = rng.uniform(0, 1, (n_fields, *shape))
    start = conc.copy()
    solver.step(conc, source)
    assert np.all(solver.last_iterations > 0) == (kind == "voxel")

    def per_voxel(values):
        return np.broadcast_to(values.reshape(values.shape + (1,) * (conc.ndim - values.ndim)),
                               conc.shape)  # fmt: skip

    for field in range(n_fields):
        d, lam = per_voxel(diffusion)[field], per_voxel(decay)[field]
        matrix, bottom = sparse_operator(shape, d, lam, lateral_bc, bottom_fixed=field > 0)
        rhs = (start[field] + DT * source[field]).ravel() + bottom * bottom_value[field]
        exact = spl.spsolve(matrix, rhs).reshape(shape)
        assert np.max(np.abs(conc[field] - exact)) <= 1e-10 * np.max(np.abs(exact))
    if kind != "uniform":  # closed voxels follow (c + dt s) / (1 + dt Λ)
        closed = per_voxel(diffusion) == 0
        expected = (start + DT * source) / (1 + DT * per_voxel(decay))
        assert np.allclose(conc[closed], expected[closed], rtol=1e-12, atol=0)


def test_laterally_uniform_voxel_coefficients_take_the_direct_path():
    shape = (6, 7)
    solver = FieldSolver(shape, VOXEL, DT, 1)
    diffusion = np.broadcast_to(np.linspace(0, 5000, 6)[:, None], shape)[None].copy()
    solver.set_coefficients(diffusion, np.full((1, *shape), DECAY))
    conc = np.ones((1, *shape))
    solver.step(conc)
    assert solver.last_iterations.tolist() == [0]
    diffusion[0, 2, 3] += 1.0
    solver.set_coefficients(diffusion, np.full((1, *shape), DECAY))
    solver.step(conc)
    assert solver.last_iterations[0] > 0


# ------------------------------------------------------------------ acceptance criteria
def test_point_source_steady_state_matches_discrete_and_continuum():
    n = 192  # periodic laterally; the source sits 96 voxels (3.3 L) from the top and bottom
    shape = (n, n)
    centre = (n // 2, n // 2)
    source = np.zeros((1, *shape))
    source[0, centre[0], centre[1]] = 1.0  # pg/mL/min in one voxel
    solver = FieldSolver(shape, VOXEL, DT, 1, lateral_bc="periodic")
    solver.set_coefficients(np.array([D_TISSUE]), np.array([DECAY]))
    conc = np.zeros((1, *shape))
    run_to_steady(solver, conc, source)
    exact = sparse_steady_state(shape, D_TISSUE, DECAY, source[0], "periodic")
    zz, xx = np.indices(shape)
    r = np.hypot(zz - centre[0], xx - centre[1])
    away = r >= 1
    assert np.max(np.abs(conc[0][away] / exact[away] - 1)) < 0.01
    # Continuum 2-D Green's function: c = s h² / (2π D) K0(r / L).
    ring = (r >= 3) & (r <= 30)
    continuum = VOXEL**2 / (2 * np.pi * D_TISSUE) * k0(r[ring] / LENGTH_VOXELS)
    assert np.max(np.abs(conc[0][ring] / continuum - 1)) < 0.03


@pytest.mark.parametrize("shape", [(40, 48), (24, 12, 12)])
def test_layered_skin_steady_state_matches_sparse_solve(shape):
    diffusion, decay, air, surface = skin_coefficients(shape, n_fields=2)
    source = np.zeros((2, *shape))
    lateral = tuple(n // 3 for n in shape[1:])
    source[(0, surface[lateral] - 5, *lateral)] = 3.0  # epidermis
    source[(1, 5, *lateral)] = 1.0  # dermis
    source[(1, surface[lateral] - 1, *lateral)] = 1.0  # stratum corneum
    solver = FieldSolver(shape, VOXEL, DT, 2, lateral_bc="periodic")
    solver.set_coefficients(diffusion, decay)
    conc = np.zeros((2, *shape))
    solver.step(conc, source)
    assert np.all(solver.last_iterations > 0)  # the iterative path
    run_to_steady(solver, conc, source)
    for field in range(2):
        exact = sparse_steady_state(
            shape, diffusion[field], decay[field], source[field], "periodic"
        )
        tissue = ~air
        assert np.max(np.abs(conc[field][tissue] / exact[tissue] - 1)) < 0.01
        assert np.all(conc[field][air] == 0.0)  # no flux into air


@pytest.mark.parametrize(
    ("lateral", "general"),
    [((1,), False), ((3,), False), ((3,), True), ((1, 1), False), ((2, 3), True)],
)
def test_one_dimensional_decay_profile(lateral, general):
    nz = 300  # ≈ 10 L: the no-flux top is far from the checked range
    shape = (nz, *lateral)
    solver = FieldSolver(shape, VOXEL, DT, 1, bottom_bc=["fixed"], bottom_value=[5.0])
    diffusion = np.full((1, *shape), D_TISSUE)
    if general:  # a closed voxel beside the column forces the iterative path
        diffusion[(0, nz - 1) + (0,) * len(lateral)] = 0.0
    solver.set_coefficients(diffusion, np.full((1, *shape), DECAY))
    conc = np.zeros((1, *shape))
    solver.step(conc)
    assert (solver.last_iterations[0] > 0) == general
    run_to_steady(solver, conc, None)
    distance = (np.arange(nz) + 1.0) * VOXEL  # ghost centre to voxel centre
    profile = conc[(0, slice(None)) + (0,) * len(lateral)]
    check = distance <= 200 * VOXEL
    expected = 5.0 * np.exp(-distance / (LENGTH_VOXELS * VOXEL))
    assert np.max(np.abs(profile[check] / expected[check] - 1)) < 0.02


@pytest.mark.parametrize(
    ("shape", "lateral_bc", "steps"), [((128, 128), "no_flux", 10), ((48, 48, 48), "periodic", 4)]
)
def test_gaussian_variance_grows_as_2dt(shape, lateral_bc, steps):
    dt = 0.1
    solver = FieldSolver(shape, VOXEL, dt, 1, lateral_bc=lateral_bc)
    solver.set_coefficients(np.array([D_TISSUE]), np.array([0.0]))
    coords = np.indices(shape).astype(float)
    centre = np.array([(n - 1) / 2 for n in shape]).reshape((-1,) + (1,) * len(shape))
    conc = np.exp(-np.sum((coords - centre) ** 2, axis=0) / (2 * 2.0**2))[None].copy()

    def variances(c):
        mass = c.sum()
        mean = [(coords[a] * c).sum() / mass for a in range(len(shape))]
        return (
            np.array([((coords[a] - mean[a]) ** 2 * c).sum() / mass for a in range(len(shape))])
            * VOXEL**2
        )

    before = variances(conc[0])
    for _ in range(steps):
        solver.step(conc)
    growth = variances(conc[0]) - before
    assert np.all(np.abs(growth / (2 * D_TISSUE * steps * dt) - 1) < 0.02)


@pytest.mark.parametrize("general", [False, True])
def test_mass_is_conserved_without_decay(general):
    shape = (32, 40)
    rng = np.random.default_rng(5)
    solver = FieldSolver(shape, VOXEL, DT, 2, lateral_bc="no_flux")
    if general:
        diffusion = skin_coefficients(shape, n_fields=2)[0]
    else:
        diffusion = np.array([D_TISSUE, 2 * D_TISSUE])
    solver.set_coefficients(diffusion, np.zeros(2))
    conc = rng.uniform(0, 1, (2, *shape))
    conc[:, 10, 10] += 1000.0
    mass0 = conc.sum(axis=(1, 2))
    solver.step(conc)
    assert (solver.last_iterations > 0).all() == general
    for _ in range(239):
        solver.step(conc)
    assert np.all(np.abs(conc.sum(axis=(1, 2)) / mass0 - 1) < 1e-9)


@pytest.mark.parametrize("case", ["uniform-periodic", "uniform-no_flux", "skin", "skin-3d"])
def test_no_negative_values_from_a_spike(case):
    if case.startswith("uniform"):
        shape = (48, 48)
        solver = FieldSolver(shape, VOXEL, DT, 1, lateral_bc=case.split("-")[1])
        solver.set_coefficients(np.array([D_TISSUE]), np.array([DECAY]))
        spike = (24, 24)
    else:
        shape = (40, 48) if case == "skin" else (24, 12, 12)
        diffusion, decay, _, surface = skin_coefficients(shape)
        solver = FieldSolver(shape, VOXEL, DT, 1)
        solver.set_coefficients(diffusion, decay)
        lateral = tuple(n // 2 for n in shape[1:])
        spike = (surface[lateral] - 1, *lateral)  # in the stratum corneum
    conc = np.zeros((1, *shape))
    conc[(0, *spike)] = 1e6
    for _ in range(20):
        solver.step(conc)
        assert conc.min() >= -1e-12 * conc.max()


# ------------------------------------------------------------------- determinism, errors
THREAD_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_diffusion import skin_coefficients
    from mscabm.diffusion import FieldSolver
    digest = hashlib.sha256()
    # (200, 400) x 3 fields is above the threshold where the general solver uses threads.
    for shape in [(40, 64), (16, 10, 12), (200, 400)]:
        diffusion, decay, _, surface = skin_coefficients(shape, n_fields=3)
        layered = (np.array([6000.0, 1000, 300]), decay.reshape(3, shape[0], -1).mean(axis=2))
        for coefficients in [(diffusion, decay), layered]:
            solver = FieldSolver(shape, 10.0, 6.0, 3)
            solver.set_coefficients(*coefficients)
            conc = np.random.default_rng(1).uniform(0, 1, (3, *shape))
            source = np.zeros_like(conc)
            source[(slice(None), 5) + (1,) * (len(shape) - 1)] = 7.0
            for _ in range(3):
                solver.step(conc, source)
                digest.update(conc.tobytes())
            solver.step(conc, source, active=np.array([True, False, True]))
            digest.update(conc.tobytes())
    print(digest.hexdigest())
    """
)


def test_bit_identical_with_one_and_two_threads():
    root = Path(__file__).resolve().parents[1]
    script = THREAD_SCRIPT.format(tests=str(Path(__file__).resolve().parent))
    digests = []
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads, PYTHONPATH=str(root))
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.append(done.stdout.strip())
    assert len(digests[0]) == 64
    assert digests[0] == digests[1]


def test_errors_are_clear():
    with pytest.raises(ValueError, match="shape"):
        FieldSolver((5,), VOXEL, DT, 1)
    with pytest.raises(ValueError, match="lateral_bc"):
        FieldSolver((5, 5), VOXEL, DT, 1, lateral_bc="reflecting")
    with pytest.raises(ValueError, match="bottom_bc"):
        FieldSolver((5, 5), VOXEL, DT, 2, bottom_bc=["fixed"])
    with pytest.raises(ValueError, match="dt_min"):
        FieldSolver((5, 5), VOXEL, 0.0, 1)
    solver = FieldSolver((5, 5), VOXEL, DT, 1)
    with pytest.raises(RuntimeError, match="set_coefficients"):
        solver.step(np.zeros((1, 5, 5)))
    with pytest.raises(ValueError, match="shape"):
        solver.set_coefficients(np.ones((1, 4)), np.zeros(1))
    with pytest.raises(ValueError, match="non-negative"):
        solver.set_coefficients(np.array([-1.0]), np.zeros(1))
    solver.set_coefficients(np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match="shape"):
        solver.step(np.zeros((1, 5, 4)))
    with pytest.raises(ValueError, match="float64"):
        solver.step(np.zeros((1, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        solver.step(np.zeros((1, 5, 5)).transpose(0, 2, 1))


def test_non_convergence_raises():
    shape = (40, 48)
    diffusion, decay, _, _ = skin_coefficients(shape)
    solver = FieldSolver(shape, VOXEL, DT, 1, max_iterations=2)
    solver.set_coefficients(diffusion, decay)
    conc = np.random.default_rng(0).uniform(0, 1, (1, *shape))
    with pytest.raises(FieldConvergenceError, match="did not converge in 2 iterations"):
        solver.step(conc)


def test_two_solvers_do_not_share_state():
    shape = (16, 16)
    diffusion, decay, _, _ = skin_coefficients(shape)
    start = np.random.default_rng(0).uniform(0, 1, (1, *shape))
    alone = FieldSolver(shape, VOXEL, DT, 1)
    alone.set_coefficients(diffusion, decay)
    expected = start.copy()
    alone.step(expected)
    alone.step(expected)
    first = FieldSolver(shape, VOXEL, DT, 1)
    second = FieldSolver(shape, VOXEL, DT, 1)
    first.set_coefficients(diffusion, decay)
    second.set_coefficients(diffusion * 3, decay * 2)
    conc, other = start.copy(), 5 * start
    first.step(conc)
    second.step(other)  # interleaved use of another solver with other coefficients
    first.step(conc)
    assert hashlib.sha256(conc.tobytes()).digest() == hashlib.sha256(expected.tobytes()).digest()
    assert not np.array_equal(other, expected)


# -------------------------------------------------------------- active fields, skin geometry
@pytest.mark.parametrize("kind", ["layered", "voxel"])
def test_inactive_fields_are_left_untouched(kind):
    shape = (24, 20)
    diffusion, decay, _, _ = skin_coefficients(shape, n_fields=3)
    if kind == "layered":
        diffusion, decay = np.array([6000.0, 3000, 1000]), np.array([DECAY, 0.2, 0.05])
    rng = np.random.default_rng(4)
    start = rng.uniform(0, 1, (3, *shape))
    source = rng.uniform(0, 1, (3, *shape))
    everything = FieldSolver(shape, VOXEL, DT, 3, bottom_bc=["fixed"] * 3, bottom_value=[1, 2, 3])
    everything.set_coefficients(diffusion, decay)
    expected = start.copy()
    everything.step(expected, source)
    solver = FieldSolver(shape, VOXEL, DT, 3, bottom_bc=["fixed"] * 3, bottom_value=[1, 2, 3])
    solver.set_coefficients(diffusion, decay)
    conc = start.copy()
    solver.step(conc, source, active=np.array([True, False, True]))
    assert np.array_equal(conc[1], start[1])
    assert solver.last_iterations[1] == 0
    if kind == "voxel":  # fields are solved independently: the same bits
        assert np.array_equal(conc[[0, 2]], expected[[0, 2]])
        assert np.all(solver.last_iterations[[0, 2]] > 0)
    else:
        assert np.allclose(conc[[0, 2]], expected[[0, 2]], rtol=1e-14, atol=0)
    held = conc.copy()
    solver.step(conc, source, active=np.zeros(3, dtype=bool))
    assert np.array_equal(conc, held) and solver.last_iterations.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="active"):
        solver.step(conc, source, active=np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="active"):
        solver.step(conc, source, active=np.array([True, False]))


@pytest.mark.parametrize("kind", ["layered", "voxel"])
@pytest.mark.parametrize("shape", [(24, 20), (10, 6, 8)])
def test_coefficient_sets_give_the_bits_of_repeated_rows(kind, shape):
    diffusion, decay, _, _ = skin_coefficients(shape, n_fields=3)
    if kind == "layered":
        diffusion = diffusion.reshape(3, shape[0], -1)[:, :, 0].copy()
        decay = decay.reshape(3, shape[0], -1)[:, :, 0].copy()
    sets = np.array([1, 0, 1, 2, 1])  # fields 0, 2 and 4 share a row, field 4 fixed at the bottom
    bottom = {"bottom_bc": ["no_flux"] * 4 + ["fixed"], "bottom_value": [0, 0, 0, 0, 3.0]}
    rng = np.random.default_rng(5)
    start = rng.uniform(0, 1, (5, *shape))
    source = rng.uniform(0, 1, (5, *shape))
    results = []
    for coefficients in [(diffusion[sets], decay[sets]), (diffusion, decay, sets)]:
        solver = FieldSolver(shape, VOXEL, DT, 5, **bottom)
        solver.set_coefficients(*coefficients)
        conc = start.copy()
        for _ in range(3):
            solver.step(conc, source)
        results.append((conc, solver.last_iterations.copy()))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
    solver = FieldSolver(shape, VOXEL, DT, 5, **bottom)
    with pytest.raises(ValueError, match="coefficient_set"):
        solver.set_coefficients(diffusion, decay, np.array([0, 1, 2, 3, 1]))
    with pytest.raises(ValueError, match="coefficient_set"):
        solver.set_coefficients(diffusion, decay, np.array([0, 1, 2]))


def irregular_skin(shape, seed):
    """Skin with a surface that jumps column by column, a 1-3 voxel barrier (D x 0.01, its own
    decay), closed voxels inside the tissue, a deeper dermis with its own decay and uptake."""
    rng = np.random.default_rng(seed)
    nz = shape[0]
    surface = rng.integers(int(0.55 * nz), nz - 3, size=shape[1:])
    barrier = rng.integers(1, 4, size=shape[1:])
    z = np.arange(nz).reshape((nz,) + (1,) * (len(shape) - 1))
    air = z > surface
    corneum = ~air & (z > surface - barrier)
    dermis = z < nz // 3
    diffusion = np.where(air, 0.0, np.where(corneum, 0.01 * D_TISSUE, D_TISSUE))
    diffusion[(rng.random(shape) < 0.02) & ~air] = 0.0  # e.g. voxels filled by a cell
    decay = np.where(corneum, 0.003, np.where(dermis, DECAY, 2 * DECAY))
    decay = decay + np.where((rng.random(shape) < 0.1) & ~air, 0.5, 0.0)
    return diffusion, decay


@pytest.mark.parametrize(
    ("shape", "lateral_bc"),
    [((30, 37), "periodic"), ((26, 40), "no_flux"), ((14, 9, 11), "periodic")],
)
def test_multigrid_pcg_matches_sparse_solve_on_irregular_skin(shape, lateral_bc):
    diffusion, decay = irregular_skin(shape, seed=sum(shape))
    n_fields = 2
    solver = FieldSolver(shape, VOXEL, DT, n_fields, lateral_bc=lateral_bc,
                         bottom_bc=["no_flux", "fixed"], bottom_value=[0.0, 4.0])  # fmt: skip
    solver.set_coefficients(np.stack([diffusion, 1.5 * diffusion]), np.stack([decay, decay]))
    rng = np.random.default_rng(6)
    start = rng.uniform(0, 1, (n_fields, *shape))
    source = np.zeros_like(start)
    source[(slice(None), shape[0] // 2) + (slice(None, None, 5),) * (len(shape) - 1)] = 10.0
    conc = start.copy()
    solver.step(conc, source)
    assert np.all(solver.last_iterations > 0)
    for field in range(n_fields):
        d = diffusion * (1.0 + 0.5 * field)
        matrix, bottom = sparse_operator(shape, d, decay, lateral_bc, bottom_fixed=field == 1)
        rhs = (start[field] + DT * source[field]).ravel() + bottom * [0.0, 4.0][field]
        exact = spl.spsolve(matrix, rhs).reshape(shape)
        assert np.linalg.norm(conc[field] - exact) <= 1e-10 * np.linalg.norm(exact)
    # The preconditioner's quality: few iterations from a cold start at the simulation's rtol.
    coarse = FieldSolver(shape, VOXEL, DT, n_fields, lateral_bc=lateral_bc, rtol=1e-6)
    coarse.set_coefficients(np.stack([diffusion, 1.5 * diffusion]), np.stack([decay, decay]))
    cold = np.zeros_like(start)
    coarse.step(cold, source + start)
    assert np.all(coarse.last_iterations <= 12), coarse.last_iterations


def test_engine_tolerance_keeps_fields_close_to_a_tight_solve():
    """The engine's rtol on a running psoriasis_human section: every solve of the first steps
    replayed twice from the same start, coefficients and sources, once at the engine's rtol
    and once at 1e-12, each carrying its own fields forward. The error grows with the steps
    (each is warm-started from its own last answer), so it is checked after every step."""
    from mscabm.engine import Simulation
    from mscabm.processes import transport

    sim = Simulation("psoriasis_human", rng=1, days=1, overrides=["geometry.width_um=600"])
    solver, n_fields = sim.solver, len(sim.field_ids)
    shape = (n_fields, *sim.layout.shape)
    diffusion, decay = transport.coefficients(sim, sim.state.region)
    calls = [("coefficients", diffusion.reshape(shape), decay.reshape(shape))]
    set_coefficients, step = solver.set_coefficients, solver.step

    def record_coefficients(diffusion, decay, coefficient_set=None):
        if coefficient_set is not None:  # one row per field
            diffusion, decay = diffusion[coefficient_set], decay[coefficient_set]
        calls.append(("coefficients", diffusion.copy(), decay.copy()))
        set_coefficients(diffusion, decay)

    def record_step(conc, source=None, active=None):
        calls.append(("step", conc.copy(), source.copy(), active.copy()))
        step(conc, source, active)

    solver.set_coefficients, solver.step = record_coefficients, record_step
    for _ in range(24):
        sim.step()
    assert solver.rtol >= 1e-6  # the engine's setting, whatever it is

    def replica(rtol):
        return FieldSolver(sim.layout.shape, solver.voxel_um, solver.dt_min, n_fields,
                           lateral_bc="periodic", bottom_bc=solver.bottom_bc,
                           bottom_value=solver.bottom_value, rtol=rtol)  # fmt: skip

    loose, tight = replica(solver.rtol), replica(1e-12)
    conc_loose = conc_tight = None
    worst_l2, worst_total = 0.0, 0.0
    for call in calls:
        if call[0] == "coefficients":
            loose.set_coefficients(call[1], call[2])
            tight.set_coefficients(call[1], call[2])
            continue
        _, start, source, active = call
        if conc_loose is None:
            conc_loose, conc_tight = start.copy(), start.copy()
        conc_loose[~active] = start[~active]  # held levels: set by the engine, not solved
        conc_tight[~active] = start[~active]
        loose.step(conc_loose, source, active)
        tight.step(conc_tight, source, active)
        error = (conc_loose - conc_tight)[active].reshape(active.sum(), -1)
        exact = conc_tight[active].reshape(active.sum(), -1)
        scale = np.maximum(np.linalg.norm(exact, axis=1), 1e-300)
        worst_l2 = max(worst_l2, float(np.max(np.linalg.norm(error, axis=1) / scale)))
        totals = np.abs(error.sum(axis=1)) / np.maximum(np.abs(exact.sum(axis=1)), 1e-300)
        worst_total = max(worst_total, float(np.max(totals)))
    assert np.all(conc_tight[:, sim.solver._rows :] >= 0.0)
    # Each step leaves an error of at most rtol ||b|| (A >= I), carried into the next step by
    # the warm start and damped only by the loss (x 1 / (1 + dt λ) per step), so errors add
    # up over steps. Measured at rtol 1e-4: 4.8e-4 here (TGF-β), 3e-4 over 80 steps of a 2 mm
    # section; at 1e-3 up to 10 %.
    assert worst_l2 <= 10.0 * solver.rtol, worst_l2
    assert worst_total <= 10.0 * solver.rtol, worst_total
