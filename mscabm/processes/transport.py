"""Coupling of cells to the cytokine fields: regions, coefficients, secretion, fixed levels.

The solver (:mod:`mscabm.diffusion`) knows nothing about cells (DESIGN.md, principle 4). This
module turns the tissue layer into per-voxel coefficients — air closed to diffusion (no flux
into it), the stratum corneum a barrier (diffusion × ``stratum_corneum_diffusion_factor``, its
own half-life), region-specific decay in dermis and epidermis, uptake by basal cells inside the
implicit operator — and cell secretion into sources.

Units: fields in pg/mL; secretion in pg/cell/day goes into the voxel holding the cell's centre:
``source (pg/mL/min) = rate · (voxel_um / 10 µm)³ / 1440 / voxel volume (mL)``. Per-cell rates
are calibrated on the 10 µm human lattice (:data:`mscabm.defaults.KC_SECRETION`); the factor
``(voxel_um / 10)³`` keeps tissue levels independent of the voxel size (a 5 µm mouse voxel holds
one cell in an eighth of the volume). In 2-D the section is one voxel thick,
so a layer of secreting cells gives the same levels as in 3-D; point sources reach differently
(documented in docs/model.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mscabm.vocab import TISSUE_CODES

if TYPE_CHECKING:  # pragma: no cover
    from mscabm.engine import Simulation

REGION_AIR, REGION_CORNEUM, REGION_EPIDERMIS, REGION_DERMIS = 0, 1, 2, 3
LN2 = float(np.log(2.0))
REFERENCE_VOXEL_UM = 10.0  # voxel size on which per-cell secretion rates are calibrated


def regions(tissue: np.ndarray) -> np.ndarray:
    """Region code per voxel (air, stratum corneum, viable epidermis, dermis)."""
    region = np.full(tissue.shape, REGION_EPIDERMIS, dtype=np.uint8)
    region[tissue == TISSUE_CODES["air"]] = REGION_AIR
    region[
        (tissue == TISSUE_CODES["stratum_corneum"])
        | (tissue == TISSUE_CODES["parakeratotic_corneum"])
    ] = REGION_CORNEUM
    region[(tissue == TISSUE_CODES["dermis"]) | (tissue == TISSUE_CODES["capillary"])] = (
        REGION_DERMIS
    )
    return region


def coefficients(sim: Simulation, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel diffusion (µm²/min) and first-order loss (1/min) of every field."""
    field_ids = sim.field_ids
    n_fields = len(field_ids)
    diffusion = np.zeros((n_fields, region.size))
    decay = np.zeros((n_fields, region.size))
    basal_uptake = sim.spec.keratinocyte.basal_uptake_per_min
    for index, field_id in enumerate(field_ids):
        spec = sim.spec.fields[field_id]
        by_region_d = np.array(
            [
                0.0,
                spec.diffusion_um2_per_min * spec.stratum_corneum_diffusion_factor,
                spec.diffusion_um2_per_min,
                spec.diffusion_um2_per_min,
            ]
        )
        by_region_k = np.array(
            [
                0.0,
                LN2 / spec.stratum_corneum_half_life_min,
                LN2 / spec.half_life_min,
                LN2 / spec.dermis_half_life_min,
            ]
        )
        diffusion[index] = by_region_d[region]
        decay[index] = by_region_k[region]
        if basal_uptake > 0:
            decay[index][sim.state.basal_voxels] += basal_uptake
    return diffusion, decay


def secretion_sources(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> np.ndarray:
    """Sources (pg/mL/min) of every field from keratinocyte secretion behaviours."""
    kc = sim.state.kc
    layout = sim.layout
    voxel_ml = (layout.voxel_um**3) * 1e-12
    centre = kc.z_bottom_um[rows] + 0.5 * kc.height_um[rows]
    voxels = layout.voxel_of(kc.column[rows], centre)
    source = np.zeros((len(sim.field_ids), layout.n_voxels))
    for index, field_id in enumerate(sim.field_ids):
        if field_id in sim.knocked_out:
            continue
        column = sim.rules.behaviour_names.index(f"secrete_{field_id}")
        rate_pg_per_day = behaviour[:, column]
        if np.any(rate_pg_per_day):
            source[index] = np.bincount(voxels, weights=rate_pg_per_day, minlength=layout.n_voxels)
    source *= (layout.voxel_um / REFERENCE_VOXEL_UM) ** 3 / (1440.0 * voxel_ml)
    return source


def hold_levels(sim: Simulation, conc: np.ndarray, region: np.ndarray) -> None:
    """Apply fixed levels (``fix_field``) and knockouts (held at 0) in tissue voxels, in place."""
    tissue_voxels = region >= REGION_EPIDERMIS
    for index, field_id in enumerate(sim.field_ids):
        if field_id in sim.knocked_out:
            conc[index] = 0.0
        elif field_id in sim.fixed_levels:
            conc[index][tissue_voxels] = sim.fixed_levels[field_id]
