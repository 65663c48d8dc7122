"""Initial tissue states: shipped equilibrated states, or a freshly built (unequilibrated) one.

Shipped states (``mscabm/data/initial_states/<name>.h5``, made by
``scripts/make_initial_states.py``) hold the keratinocyte and corneocyte tables of an
equilibrated healthy tissue plus the profile's healthy baseline (mean viable and corneum
thickness, perfusion). A state fits any lattice of the same voxel size: its columns are tiled
(or cropped) laterally — column ``c`` of the new lattice takes old column ``(x + 7·y) mod n_old``
— and every cell is restacked on the new basement membrane. Cell ids are assigned afresh;
event times are shifted so the state's moment is step 0.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mscabm import io as _io
from mscabm.random import EntityKind, Purpose
from mscabm.vocab import KeratinocyteState

if TYPE_CHECKING:  # pragma: no cover
    from mscabm.engine import Simulation

KS = KeratinocyteState


def shipped_states() -> dict[str, Path]:
    """Shipped initial states by name."""
    folder = resources.files("mscabm") / "data" / "initial_states"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".h5")}


def load(name_or_path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a shipped state by name, or a state/checkpoint file by path."""
    shipped = shipped_states()
    path = Path(name_or_path)
    if not path.exists():
        if str(name_or_path) not in shipped:
            from mscabm.engine import SimulationError

            raise SimulationError(
                f"initial_state {str(name_or_path)!r} is neither a shipped state "
                f"({', '.join(sorted(shipped)) or 'none shipped'}) nor a file; "
                "use initial_state: null to build a fresh tissue"
            )
        path = shipped[str(name_or_path)]
    return _io.load_checkpoint(path)


def for_scenario(sim: Simulation) -> tuple[dict[str, np.ndarray], dict]:
    """The scenario's initial state, or a freshly built tissue when it names none."""
    if sim.spec.initial_state is None:
        return build_fresh(sim), {"step": 0, "baseline": None, "voxel_um": sim.layout.voxel_um}
    return load(sim.spec.initial_state)


def build_fresh(sim: Simulation) -> dict[str, np.ndarray]:
    """A young tissue: basal layer plus a near-steady suprabasal stack, no corneum yet.

    Its kinetics are not equilibrated; ``scripts/make_initial_states.py`` runs it to steady state.
    """
    params, layout = sim.spec.keratinocyte, sim.layout
    n_columns, per_column = layout.n_columns, params.basal_cells_per_column
    stream = sim.random_stream
    basal_ids = np.arange(1, n_columns * per_column + 1, dtype=np.uint64)
    draws = stream.uniforms(0, Purpose.INITIAL_STATE, EntityKind.CELL, basal_ids, 3)
    stem = draws[:, 0] < params.stem_fraction
    divisions = 1 + np.floor(draws[:, 1] * max(params.ta_divisions, 1)).astype(np.int16)
    # suprabasal cells: expected steady count per column from the healthy production rate
    production_per_day = per_column * 24.0 / params.cycle_time_h
    stage_days = params.spinous_duration_days + params.granular_duration_days
    n_supra = max(1, round(production_per_day * stage_days))
    supra_ids = np.arange(
        len(basal_ids) + 1, len(basal_ids) + 1 + n_columns * n_supra, dtype=np.uint64
    )
    supra_column = np.repeat(np.arange(n_columns), n_supra)
    level = np.tile(np.arange(n_supra), n_columns)
    maturation = (
        level + stream.uniform(0, Purpose.INITIAL_STATE, EntityKind.CELL, supra_ids)
    ) / n_supra
    maturation = maturation * (1.0 + params.granular_duration_days / params.spinous_duration_days)
    granular = maturation >= 1.0
    height = np.where(
        granular,
        params.granular_height_um,
        params.basal_height_um
        + (params.spinous_height_um - params.basal_height_um) * np.minimum(maturation, 1.0),
    )
    n_basal = len(basal_ids)
    steps_per_day = sim.steps_per_day
    return {
        "kc/state": np.r_[
            np.where(stem, KS.STEM, KS.TA), np.where(granular, KS.GRANULAR, KS.SPINOUS)
        ].astype(np.uint8),
        "kc/basal": np.r_[np.ones(n_basal, bool), np.zeros(len(supra_ids), bool)],
        "kc/stem": np.r_[stem, np.zeros(len(supra_ids), bool)],
        "kc/column": np.r_[np.repeat(np.arange(n_columns), per_column), supra_column].astype(
            np.int64
        ),
        "kc/stack_key": np.r_[np.zeros(n_basal), level.astype(float)],
        "kc/height_um": np.r_[np.full(n_basal, params.basal_height_um), height],
        "kc/birth_step": np.r_[
            -(draws[:, 2] * params.cycle_time_h * steps_per_day / 24.0).astype(np.int64),
            -(maturation * params.spinous_duration_days * steps_per_day).astype(np.int64),
        ],
        "kc/divisions_left": np.r_[divisions, np.zeros(len(supra_ids), np.int16)].astype(np.int16),
        "kc/maturation": np.r_[np.zeros(n_basal), maturation],
        "kc/maturation_speed": np.ones(n_basal + len(supra_ids)),
    }


_KC_COLUMNS = (
    "state", "basal", "stem", "column", "stack_key", "height_um", "birth_step",
    "last_mitosis_step", "divisions_left", "in_fixed_phase", "fixed_phase_left_h", "maturation",
    "maturation_speed", "parakeratotic", "committed_step", "in_g0",
)  # fmt: skip
_SC_COLUMNS = (
    "column", "height_um", "birth_step", "entry_step", "sc_age_days", "shed_after_days",
    "parakeratotic", "primary",
)  # fmt: skip
_STEP_COLUMNS = {"birth_step", "last_mitosis_step", "committed_step", "entry_step"}


def apply(sim: Simulation, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Fill the simulation's tables from a state, tiled to its lattice.

    Parameters
    ----------
    sim
        A simulation whose tables are empty.
    arrays, meta
        As returned by :func:`load` (checkpoint layout ``kc/<column>``, ``sc/<column>``).
    """
    from mscabm.engine import SimulationError

    voxel = float(meta.get("voxel_um", sim.layout.voxel_um))
    if abs(voxel - sim.layout.voxel_um) > 1e-9:
        raise SimulationError(
            f"initial_state {sim.spec.initial_state!r} was made with {voxel} µm voxels but "
            f"geometry.voxel_um is {sim.layout.voxel_um}; use a state of the same species profile "
            "or initial_state: null"
        )
    shift = int(meta.get("step", 0))
    kc_alive = np.asarray(arrays.get("kc/alive", np.ones(len(arrays["kc/state"]), bool)), bool)
    old_columns = np.asarray(arrays["kc/column"])[kc_alive]
    n_old = int(meta.get("n_columns") or (old_columns.max() + 1 if len(old_columns) else 1))
    lateral = sim.layout.lateral_shape
    grids = np.meshgrid(*[np.arange(n) for n in lateral], indexing="ij")
    x = grids[-1].ravel()
    y = grids[0].ravel() if len(lateral) == 2 else np.zeros_like(x)
    source_column = (x + 7 * y) % n_old  # new column c copies old column source_column[c]
    for table, prefix, names in (
        (sim.state.kc, "kc", _KC_COLUMNS),
        (sim.state.sc, "sc", _SC_COLUMNS),
    ):
        if f"{prefix}/column" not in arrays:
            continue
        alive = np.asarray(
            arrays.get(f"{prefix}/alive", np.ones(len(arrays[f"{prefix}/column"]), bool)), bool
        )
        old_rows = np.flatnonzero(alive)
        old_rows = old_rows[
            np.argsort(np.asarray(arrays.get(f"{prefix}/id", old_rows))[old_rows], kind="stable")
        ]
        columns = np.asarray(arrays[f"{prefix}/column"])[old_rows]
        # for every new column, the old rows of its source column (in id order)
        order = np.argsort(columns, kind="stable")
        starts = np.searchsorted(columns[order], np.arange(n_old))
        ends = np.searchsorted(columns[order], np.arange(n_old), side="right")
        picked, new_column = [], []
        for column, source in enumerate(source_column.tolist()):
            rows = old_rows[order[starts[source] : ends[source]]]
            picked.append(rows)
            new_column.append(np.full(len(rows), column, dtype=np.int64))
        picked_rows = np.concatenate(picked) if picked else np.zeros(0, np.int64)
        values = {}
        for name in names:
            if f"{prefix}/{name}" not in arrays:
                continue
            column_values = np.asarray(arrays[f"{prefix}/{name}"])[picked_rows]
            if name in _STEP_COLUMNS:
                column_values = column_values - shift
            values[name] = column_values
        values["column"] = np.concatenate(new_column) if new_column else np.zeros(0, np.int64)
        if prefix == "kc" and "kc/last_mitosis_step" not in arrays:
            values["last_mitosis_step"] = values["birth_step"]
        table.add(len(picked_rows), **values)
