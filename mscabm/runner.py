"""Running a simulation to an HDF5 run file: frames, time series, events, checkpoints, resume.

:func:`run` is what ``mscabm run`` calls. The simulation returns to Python after every step, so
output, progress and Ctrl-C are handled between steps (signal handling stays with the caller's
main thread; Dask workers run this in threads).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mscabm import io as _io
from mscabm.defaults import FIELD_DISPLAY
from mscabm.engine import Simulation
from mscabm.scenario import Scenario, load_scenario, reload_scenario
from mscabm.vocab import CELL_TYPES, LATTICE_CODES

CELL_COLUMNS = {
    "cell_id": np.uint64,
    "type": np.uint8,
    "voxel": np.int64,
    "state": np.uint8,
    "birth_step": np.int64,
    "height_um": np.float32,
}


@dataclass
class Progress:
    """What a progress callback receives after every step."""

    step: int
    total_steps: int
    time_days: float
    duration_days: float


def git_commit() -> str | None:
    """The source tree's git commit, when mscabm runs from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def default_output(spec: Scenario, seed: int, folder: Path = Path("runs")) -> Path:
    """A new, unique run file name under ``runs/``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"{spec.name}_{stamp}_seed{seed % 100000:05d}"
    candidate = base.with_suffix(".h5")
    counter = 1
    while candidate.exists():
        candidate = Path(f"{base}_{counter}.h5")
        counter += 1
    return candidate


def _writer(sim: Simulation, path: Path, overwrite: bool) -> _io.RunWriter:
    spec = sim.spec
    selected = spec.outputs.fields
    fields = [
        _io.FieldMeta(
            id=field_id,
            units="pg/mL",
            long_name=FIELD_DISPLAY[field_id][0],
            display_name=FIELD_DISPLAY[field_id][1],
            diffusion_um2_per_min=spec.fields[field_id].diffusion_um2_per_min,
            half_life_min=spec.fields[field_id].half_life_min,
        )
        for field_id in sim.field_ids
        if selected == "all" or field_id in selected
    ]
    dims = ("z", "x") if len(sim.layout.shape) == 2 else ("z", "y", "x")
    return _io.RunWriter(
        path,
        attrs={
            "seed": sim.seed,
            "scenario": spec.to_yaml(),
            "scenario_name": spec.name,
            "git_commit": git_commit(),
            "dt_min": sim.dt_min,
            "status": "running",
        },
        dims=dims,
        shape=sim.layout.shape,
        voxel_um=sim.layout.voxel_um,
        fields=fields,
        lattice_codes=LATTICE_CODES,
        timeseries_names=sim.readout_names,
        cell_columns=CELL_COLUMNS,
        cell_codes={"type": {name: code for code, name in enumerate(CELL_TYPES)}},
        overwrite=overwrite,
    )


def _write_frame(writer: _io.RunWriter, sim: Simulation) -> None:
    frame = sim.frame()
    writer.write_frame(
        frame["time_days"],
        tissue=frame["tissue"],
        mobile=frame["mobile"],
        net=frame["net"],
        sc_height_um=frame["sc_height_um"],
        fields=frame["fields"],
        cells=frame["cells"],
    )


def _checkpoint_steps(sim: Simulation) -> set[int]:
    time = sim.spec.time
    steps = {round(day * sim.steps_per_day) for day in time.checkpoint_at_days}
    if time.checkpoint_every_days:
        every = round(time.checkpoint_every_days * sim.steps_per_day)
        steps.update(range(every, sim.total_steps + 1, every))
    return {s for s in steps if 0 < s <= sim.total_steps}


def _loop(
    sim: Simulation,
    writer: _io.RunWriter,
    path: Path,
    progress: Callable[[Progress], None] | None,
) -> None:
    frame_steps = round(sim.spec.time.frame_interval_days * sim.steps_per_day)
    series_steps = sim.collect_every_steps  # the steps that measure their readouts
    checkpoints = _checkpoint_steps(sim)

    def flush_events() -> None:
        new = sim.applied_events[writer.n_events :]
        if new:
            writer.append_events(new)

    while sim.steps < sim.total_steps:
        sim.step()
        step = sim.steps
        flush_events()
        if step % series_steps == 0:
            writer.append_timeseries(sim.time_days, sim.readouts)  # measured by the step
        elif step == sim.total_steps:
            writer.append_timeseries(sim.time_days, sim.measure())
        if step % frame_steps == 0 or step == sim.total_steps:
            _write_frame(writer, sim)
        if step in checkpoints:
            arrays, meta = sim.checkpoint()
            # what the file holds at this step: --resume truncates back to it
            meta.update(
                n_frames=writer.n_frames, n_timeseries=writer.n_timeseries, n_events=writer.n_events
            )
            _io.save_checkpoint(path, step, arrays, meta)
        if progress is not None:
            progress(Progress(step, sim.total_steps, sim.time_days, sim.spec.time.duration_days))


def _start(sim: Simulation, writer: _io.RunWriter) -> None:
    if sim.applied_events:
        writer.append_events(sim.applied_events)
    writer.append_timeseries(sim.time_days, sim.readouts)
    _write_frame(writer, sim)


def _drive(
    sim: Simulation,
    writer: _io.RunWriter,
    path: Path,
    progress: Callable[[Progress], None] | None,
    *,
    fresh: bool,
) -> None:
    """Run the loop to the end; the file's status says whether it completed."""
    status = "interrupted"
    try:
        if fresh:
            _start(sim, writer)
        _loop(sim, writer, path, progress)
        status = "complete"
    finally:
        writer.set_attr("status", status)
        writer.close()


def run(
    spec: Scenario | str | Path,
    *,
    output: str | Path | None = None,
    seed: int | None = None,
    days: float | None = None,
    overrides: Iterable[str] = (),
    force: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> Path:
    """Run a scenario and write one HDF5 run file.

    Parameters
    ----------
    spec
        Scenario, scenario file, or shipped scenario name.
    output
        Run file; default a new uniquely named file under ``runs/``.
    seed
        uint64 seed (default: the scenario's, else a random one, recorded in the file).
    days
        Replace the scenario's duration.
    overrides
        ``dotted.key=value`` overrides.
    force
        Overwrite an existing output file.
    progress
        Called after every step.

    Returns
    -------
    pathlib.Path
        The run file.
    """
    if not isinstance(spec, Scenario):
        spec = load_scenario(spec, overrides=overrides, duration_days=days, seed=seed)
    elif overrides or days is not None or seed is not None:
        spec = reload_scenario(spec, overrides=overrides, duration_days=days, seed=seed)
    sim = Simulation(spec, rng=seed)
    path = Path(output) if output is not None else default_output(spec, sim.seed)
    return _run_new(sim, path, force, progress)


def _run_new(
    sim: Simulation, path: Path, force: bool, progress: Callable[[Progress], None] | None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # checkpoints beside the path are the earlier run's: a resume of this run would use them
    stale = _io.list_checkpoints(path)
    if stale and not force and not path.exists():  # an existing file: the writer refuses
        raise _io.RunFileError(
            path,
            f"{_io.checkpoint_dir(path)} holds {len(stale)} checkpoint(s) of an earlier run "
            "of this name; remove them, choose another output, or replace that run with "
            "--force (force=True)",
        )
    writer = _writer(sim, path, overwrite=force)
    for _, checkpoint in stale:  # replaced with the run they belonged to
        checkpoint.unlink(missing_ok=True)
    _drive(sim, writer, path, progress, fresh=True)
    return path


def resume(path: str | Path, *, progress: Callable[[Progress], None] | None = None) -> Path:
    """Continue a run from its last checkpoint (frames after it are rewritten).

    Parameters
    ----------
    path
        The run file.
    progress
        Called after every step.

    Returns
    -------
    pathlib.Path
        The run file.
    """
    path = Path(path)
    if not path.is_file():
        raise _io.RunFileError(path, "no such run file" if not path.exists() else "not a file")
    checkpoints = _io.list_checkpoints(path)
    if not checkpoints:
        raise _io.RunFileError(
            path, f"has no checkpoints in {_io.checkpoint_dir(path)}; nothing to resume from"
        )
    _, checkpoint = checkpoints[-1]
    arrays, meta = _io.load_checkpoint(checkpoint)
    spec = reload_scenario(_scenario_mapping(meta["scenario"]))
    sim = Simulation(spec, rng=int(meta["seed"]))
    sim.restore(arrays, meta)
    writer = _io.RunWriter.reopen_for_resume(
        path,
        n_frames=int(meta["n_frames"]),
        n_timeseries=int(meta["n_timeseries"]),
        n_events=int(meta["n_events"]),
        belongs_to={"seed": int(meta["seed"]), "scenario": meta["scenario"]},
    )
    writer.set_attr("status", "running")
    _drive(sim, writer, path, progress, fresh=False)
    return path


def fork(
    checkpoint: str | Path,
    *,
    output: str | Path | None = None,
    overrides: Iterable[str] = (),
    days: float | None = None,
    force: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> Path:
    """Start a new run from a checkpoint, keeping its seed (common random numbers).

    Parameters
    ----------
    checkpoint
        A checkpoint file (``<run>.checkpoints/step_*.h5``).
    output
        New run file (default under ``runs/``); never the parent's.
    overrides
        ``dotted.key=value`` changes for this arm.
    days
        Total duration (from day 0 of the parent).
    force
        Overwrite an existing output file.
    progress
        Called after every step.

    Returns
    -------
    pathlib.Path
        The new run file.
    """
    arrays, meta = _io.load_checkpoint(checkpoint)
    parent = _scenario_mapping(meta["scenario"])
    spec = reload_scenario(parent, overrides=overrides, duration_days=days)
    _check_fork(checkpoint, reload_scenario(parent), spec, int(meta["step"]))
    sim = Simulation(spec, rng=int(meta["seed"]))
    sim.restore(arrays, meta)
    path = Path(output) if output is not None else default_output(spec, sim.seed)
    return _run_new(sim, path, force, progress)


def _check_fork(checkpoint: str | Path, parent: Scenario, child: Scenario, step: int) -> None:
    """A fork continues the parent's tissue: what lays it out and its clock stay as they were.

    Raises
    ------
    ValueError
        Naming the checkpoint and the settings that changed, or a duration that ends at or
        before the checkpoint.
    """
    before, after = parent.model_dump(mode="json"), child.model_dump(mode="json")
    changed = [
        f"geometry.{key}"
        for key in before["geometry"]
        if before["geometry"][key] != after["geometry"][key]
    ]
    changed += [key for key in ("seed",) if before[key] != after[key]]
    if before["time"]["dt_min"] != after["time"]["dt_min"]:
        changed.append("time.dt_min")
    if changed:
        raise ValueError(
            f"{checkpoint}: a fork continues the checkpoint's tissue, so "
            f"{', '.join(changed)} cannot change (start a new run to change them)"
        )
    day = step * parent.time.dt_min / 1440.0
    if child.time.duration_days <= day:
        raise ValueError(
            f"{checkpoint}: the fork would end on day {child.time.duration_days:g}, not after "
            f"the checkpoint (day {day:g}); --days counts from day 0 of the parent run"
        )


def _scenario_mapping(text: str) -> dict:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    return yaml.load(text)
