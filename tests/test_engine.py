"""The simulation engine: reproducibility, independence, Mesa API, resume, fork, kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import mscabm
from mscabm import io as run_io
from mscabm.engine import Simulation
from mscabm.runner import fork, resume, run

# A narrow human section (10 columns) keeps these end-to-end runs to seconds.
TINY = [
    "geometry.width_um=100",
    "time.frame_interval_days=0.25",
    "time.timeseries_interval_hours=3",
]


def run_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a run file (what 'identical arrays' compares)."""
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as file:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                arrays[name] = obj[()]

        file.visititems(visit)
    return arrays


def assert_same_arrays(a: Path, b: Path) -> None:
    left, right = run_arrays(a), run_arrays(b)
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        np.testing.assert_array_equal(left[name], right[name], err_msg=name)


def test_same_seed_identical_and_different_seed_differs(tmp_path):
    a = run("healthy_human", output=tmp_path / "a.h5", seed=7, days=1, overrides=TINY)
    b = run("healthy_human", output=tmp_path / "b.h5", seed=7, days=1, overrides=TINY)
    c = run("healthy_human", output=tmp_path / "c.h5", seed=8, days=1, overrides=TINY)
    assert_same_arrays(a, b)
    left, right = run_arrays(a), run_arrays(c)
    assert any(
        left[name].shape != right[name].shape or not np.array_equal(left[name], right[name])
        for name in (
            "cells/cell_id",
            "cells/birth_step",
            "timeseries/divisions_per_day",
            "lattice/tissue",
        )
    )


def test_identical_with_one_and_two_openmp_threads(tmp_path):
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / f"run_{threads}.h5"
        env = {**os.environ, "OMP_NUM_THREADS": threads}
        command = [sys.executable, "-m", "mscabm.cli", "run", "psoriatic_drive_human", "-o", str(out),
                   "--seed", "11", "--days", "1", "--quiet", *[a for o in TINY for a in ("--set", o)]]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        outputs.append(out)
    assert_same_arrays(*outputs)


def test_two_simulations_in_one_process_are_independent():
    alone = Simulation("psoriatic_drive_human", rng=3, overrides=TINY)
    for _ in range(60):
        alone.step()
    first = Simulation("psoriatic_drive_human", rng=3, overrides=TINY)
    other = Simulation("healthy_human", rng=99, overrides=TINY)
    for _ in range(60):
        first.step()
        other.step()
        other.step()
    np.testing.assert_array_equal(first.state.conc, alone.state.conc)
    np.testing.assert_array_equal(first.state.tissue, alone.state.tissue)
    for name in first.state.kc.columns:
        np.testing.assert_array_equal(first.state.kc.columns[name], alone.state.kc.columns[name])


@pytest.mark.parametrize("uptake", [0.0, 0.05])
def test_coefficients_updated_voxel_by_voxel_equal_a_full_rebuild(uptake):
    from mscabm.processes import immune, transport

    sim = Simulation(
        "psoriasis_human", rng=2, overrides=[*TINY, f"keratinocyte.basal_uptake_per_min={uptake}"]
    )
    kept = sim._coefficients
    for _ in range(30):
        sim.step()
        diffusion, decay = transport.coefficients(sim, sim.state.region)
        assert np.array_equal(kept.diffusion[kept.coefficient_set], diffusion)
        assert np.array_equal(kept.decay[kept.coefficient_set], decay)
        assert np.array_equal(sim.allowed, immune.allowed_table(sim))


def test_air_holds_no_cytokine_when_the_surface_moves():
    """Voxels that turn into air (shed corneum, a falling surface) lose what they held, also
    while a field is held fixed and after it is released, so stored maps are zero above
    the skin."""
    from mscabm.processes import transport

    sim = Simulation(
        "imq_mouse",
        rng=4,
        overrides=[
            "geometry.width_um=100",
            "events=[{day: 0, kind: start_inducer, target: inducer, amount: 1},"
            " {day: 0.5, kind: fix_field, target: il17a, amount: 50},"
            " {day: 1, kind: release_field, target: il17a}]",
        ],
    )
    tissue_before = sim.state.region != transport.REGION_AIR
    became_air = np.zeros_like(tissue_before)
    for _ in range(int(1.5 * sim.steps_per_day)):
        sim.step()
        air = sim.state.region == transport.REGION_AIR
        became_air |= air & tissue_before
        assert not np.any(sim.state.conc[:, air]), sim.time_days
    assert became_air.sum() >= 5  # the surface did move
    il17a = sim.field_ids.index("il17a")
    assert sim.state.conc[il17a, sim.state.region != transport.REGION_AIR].max() > 0
    frame = sim.frame()
    for field_map in frame["fields"].values():
        assert not np.any(field_map.ravel()[air])


def test_table_columns_are_attributes_through_growth_and_reload():
    """A column read as an attribute is the stored column, after the table grows and after it
    is restored; a column may not take the name of a table attribute."""
    from mscabm.state import Table

    table = Table({"voxel": np.int64}, capacity=2)
    rows = table.add(5, voxel=np.arange(5))  # grows past the capacity of 2
    assert table.capacity >= 5 and table.voxel is table.columns["voxel"]
    assert table.voxel[rows].tolist() == [0, 1, 2, 3, 4]
    table.voxel[rows[0]] = 9  # writes through the attribute reach the column
    copy = Table({"voxel": np.int64})
    copy.load_arrays("t", table.to_arrays("t"))
    assert copy.voxel is copy.columns["voxel"] and copy.voxel[rows[0]] == 9
    for name in ("next_id", "rows", "capacity", "columns"):
        with pytest.raises(ValueError, match="clash"):
            Table({name: np.int64})


def test_simulation_is_a_mesa_model_with_time_in_days():
    import mesa

    sim = Simulation("healthy_human", rng=5, overrides=TINY)
    assert isinstance(sim, mesa.Model)
    for _ in range(24):
        sim.step()
    assert sim.steps == 24
    assert sim.time_days == pytest.approx(24 * 6 / 1440)
    assert sim.seed == 5
    frame = sim.datacollector.get_model_vars_dataframe()
    assert "score_total" in frame.columns and len(frame) >= 1
    with pytest.raises(ValueError, match="uint64"):
        Simulation("healthy_human", rng=-1)


def test_keyword_parameters_are_scenario_overrides():
    sim = Simulation(
        "healthy_human", rng=1, geometry__width_um=100, keratinocyte__cycle_time_h=250.0
    )
    assert sim.spec.keratinocyte.cycle_time_h == 250.0
    assert sim.layout.shape[-1] == 10


def test_mesa_batch_run_returns_rows_with_model_reporters(tmp_path):
    # batch_run switches multiprocessing to "spawn" for the whole process: run it apart.
    script = textwrap.dedent(
        """
        import mesa, mscabm
        rows = mesa.batch_run(mscabm.Simulation, parameters={"spec": "healthy_human",
            "geometry__width_um": 100, "keratinocyte__cycle_time_h": [250.0, 311.0],
            "time__timeseries_interval_hours": 1}, rng=[1, 2], max_steps=20,
            display_progress=False)
        assert len(rows) == 4, rows
        for row in rows:
            assert "score_total" in row and "viable_epidermis_thickness_um" in row, row
            assert row["viable_epidermis_thickness_um"] > 0
            # the readouts of the last step (20 steps = 2 h), not the starting state
            assert row["Step"] == 20 and row["divisions_per_day"] >= 0, row
        print("rows", len(rows))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "rows 4" in done.stdout


def test_resume_from_day5_checkpoint_equals_straight_run(tmp_path):
    options = [*TINY, "time.frame_interval_days=1", "time.checkpoint_at_days=[5]"]
    straight = run(
        "psoriatic_drive_human",
        output=tmp_path / "straight.h5",
        seed=21,
        days=10,
        overrides=options,
    )
    resumed = run(
        "psoriatic_drive_human", output=tmp_path / "resumed.h5", seed=21, days=10, overrides=options
    )
    checkpoints = run_io.list_checkpoints(resumed)
    assert [step for step, _ in checkpoints] == [5 * 240]
    # damage everything written after the checkpoint, then resume: frames 6-10 are rewritten
    with h5py.File(resumed, "a") as file:
        file["fields/il17a"][6:] = -1.0
    resume(resumed)
    assert_same_arrays(straight, resumed)


def test_fork_is_identical_to_its_parent_at_the_fork_point(tmp_path):
    options = [*TINY, "time.frame_interval_days=1", "time.checkpoint_at_days=[2]"]
    parent = run(
        "psoriatic_drive_human", output=tmp_path / "parent.h5", seed=4, days=4, overrides=options
    )
    ((_, checkpoint),) = run_io.list_checkpoints(parent)
    same = fork(checkpoint, output=tmp_path / "same.h5")
    arm = fork(checkpoint, output=tmp_path / "arm.h5", overrides=["events=[]"])
    parent_data, same_data, arm_data = (run_io.open_run(p) for p in (parent, same, arm))
    assert same_data.attrs["seed"] == parent_data.attrs["seed"] == 4
    np.testing.assert_array_equal(same_data.tissue.values[0], parent_data.tissue.values[2])
    np.testing.assert_array_equal(
        same_data.fields["il17a"].values[0], parent_data.fields["il17a"].values[2]
    )
    np.testing.assert_array_equal(same_data.tissue.values[-1], parent_data.tissue.values[-1])
    np.testing.assert_array_equal(arm_data.tissue.values[0], parent_data.tissue.values[2])


def test_killed_run_leaves_a_readable_file(tmp_path):
    out = tmp_path / "killed.h5"
    command = [sys.executable, "-m", "mscabm.cli", "run", "healthy_human", "-o", str(out), "--seed", "2",
               "--days", "40", "--quiet", "--set", "geometry.width_um=100",
               "--set", "time.frame_interval_days=0.05"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if out.exists():
                try:
                    if run_io.open_run(out).n_frames >= 4:
                        break
                except run_io.RunFileError:
                    pass
        else:
            pytest.fail("the run wrote no frames in time")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    data = run_io.open_run(out)
    assert data.n_frames >= 4
    assert data.tissue.shape[0] == data.n_frames
    done = subprocess.run(
        [sys.executable, "-m", "mscabm.cli", "info", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "n_frames" in done.stdout


def test_open_run_gives_xarray_fields_and_pandas_timeseries(tmp_path):
    path = run("psoriatic_drive_human", output=tmp_path / "r.h5", seed=1, days=0.5, overrides=TINY)
    data = mscabm.open_run(path)
    assert set(data.fields.data_vars) >= {"il17a", "cxcl8", "vegf"}
    assert data.fields["il17a"].dims == ("time", "z", "x")
    assert float(data.fields["il17a"].isel(time=-1).max()) == pytest.approx(10.0, rel=1e-6)
    assert "score_total" in data.timeseries.columns
    assert list(data.events["kind"]) == ["fix_field"] * 4


def test_outgrowing_the_lattice_is_a_clear_error(tmp_path):
    from mscabm.engine import SimulationError

    sim = Simulation("healthy_human", rng=1, overrides=[*TINY])
    sim.state.kc.height_um[sim.state.kc.rows()] = 200.0
    with pytest.raises(SimulationError, match=r"increase geometry\.height_um"):
        sim._update_geometry()
