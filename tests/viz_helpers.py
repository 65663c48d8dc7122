"""Run files for the viz tests: tiny runs written with the io writer, with known content."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from mscabm.io import FieldMeta, RunWriter
from mscabm.runner import CELL_COLUMNS  # the columns real runs write
from mscabm.vocab import LATTICE_CODES, MOBILE_CODES, TISSUE_CODES, CellType, KeratinocyteState

FIELDS = (
    FieldMeta("il17a", "pg/mL", "interleukin-17A", "IL-17A", 6000.0, 10.0),
    FieldMeta("cxcl8", "pg/mL", "CXCL8 (IL-8)", "CXCL8", 6000.0, 30.0),
)
TIMESERIES = ("score_total", "count_neutrophil", "viable_epidermis_thickness_um")
#: Where the tiny 2-D run keeps its neutrophil (z, x) and its NET, every frame.
NEUTROPHIL_AT = (5, 3)
NET_AT = (6, 10)


def tissue_layers(shape: tuple[int, ...]) -> np.ndarray:
    """Dermis below, basal, spinous, corneum, air on top (along axis 0, depth)."""
    tissue = np.zeros(shape, dtype=np.uint8)
    tissue[:4] = TISSUE_CODES["dermis"]
    tissue[4] = TISSUE_CODES["basal_stem"]
    tissue[5:8] = TISSUE_CODES["spinous"]
    tissue[8] = TISSUE_CODES["stratum_corneum"]
    return tissue


def field_values(shape: tuple[int, ...], frame: int, scale: float) -> np.ndarray:
    """A frame-specific ramp: value = scale · (frame + 1) · (1 + flat index)."""
    size = int(np.prod(shape))
    return scale * (frame + 1) * (1.0 + np.arange(size, dtype=np.float64)).reshape(shape)


def write_tiny_run(
    path: Path,
    shape: tuple[int, ...] = (12, 16),
    n_frames: int = 4,
    *,
    writer_pause=None,
    status: str = "complete",
    noise_seed: int | None = None,
    cell_codes: dict[str, dict[str, int]] | None = None,
) -> Path:
    """Write a small run whose every stored value is known (see the helpers above)."""
    dims = ("z", "x") if len(shape) == 2 else ("z", "y", "x")
    with RunWriter(
        path,
        attrs={
            "seed": 123,
            "scenario": "name: tiny\n",
            "scenario_name": "tiny",
            "status": "running",
        },
        dims=dims,
        shape=shape,
        voxel_um=10.0,
        fields=FIELDS,
        lattice_codes=LATTICE_CODES,
        timeseries_names=TIMESERIES,
        cell_columns=CELL_COLUMNS,
        cell_codes=cell_codes,
    ) as writer:
        writer.append_events([(1.0, "fix_field", "il17a", 10.0, "test event")])
        for frame in range(n_frames):
            inputs = frame_inputs(shape, frame)
            if noise_seed is not None:  # incompressible fields, for the report's size limit
                rng = np.random.default_rng([noise_seed, frame])
                inputs["fields"] = {f.id: rng.random(shape) * 100.0 for f in FIELDS}
                inputs["tissue"][:] = TISSUE_CODES["spinous"]  # no air to crop
            writer.write_frame(0.5 * frame, **inputs)
            writer.append_timeseries(
                0.5 * frame,
                {
                    "score_total": frame,
                    "count_neutrophil": 2 * frame,
                    "viable_epidermis_thickness_um": 40.0,
                },
            )
            writer.flush()
            if writer_pause is not None:
                writer_pause(frame)
        writer.set_attr("status", status)
    return path


def frame_inputs(shape: tuple[int, ...], frame: int) -> dict:
    mobile = np.zeros(shape, dtype=np.uint8)
    net = np.zeros(shape, dtype=np.uint8)
    neutrophil_at = NEUTROPHIL_AT if len(shape) == 2 else (NEUTROPHIL_AT[0], 1, NEUTROPHIL_AT[1])
    net_at = NET_AT if len(shape) == 2 else (NET_AT[0], 1, NET_AT[1])
    mobile[neutrophil_at] = MOBILE_CODES["neutrophil"]
    mobile[(6, *([1] if len(shape) == 3 else []), 1 + frame % (shape[-1] - 1))] = MOBILE_CODES[
        "th17"
    ]
    net[net_at] = 1
    flat = int(np.ravel_multi_index(neutrophil_at, shape))
    return {
        "tissue": tissue_layers(shape),
        "mobile": mobile,
        "net": net,
        "sc_height_um": np.full(shape[1:], 5.0 + frame),
        "fields": {
            "il17a": field_values(shape, frame, 0.5),
            "cxcl8": field_values(shape, frame, 0.001) ** 2,
        },
        "cells": {
            "cell_id": np.array([10 + frame, 500], dtype=np.uint64),
            "type": np.array([CellType.KERATINOCYTE, CellType.NEUTROPHIL], dtype=np.uint8),
            "voxel": np.array([flat + shape[-1], flat], dtype=np.int64),
            "state": np.array([KeratinocyteState.SPINOUS, 0], dtype=np.uint8),
            "birth_step": np.array([0, 3], dtype=np.int64),
            "height_um": np.array([10.0, 10.0], dtype=np.float32),
        },
    }


def viz_dependencies_or_skip() -> None:
    """Dash, Plotly and kaleido (the viz extra): a failure under CI=true, a skip elsewhere."""
    missing = [
        name for name in ("dash", "plotly", "kaleido") if importlib.util.find_spec(name) is None
    ]
    if missing:
        reason = f"the viz extra is not installed ({', '.join(missing)}): pip install -e '.[viz]'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: may not be skipped)", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
