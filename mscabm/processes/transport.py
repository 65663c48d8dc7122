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

from mscabm import _kernels
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


def coefficient_tables(sim: Simulation) -> tuple[np.ndarray, np.ndarray]:
    """Diffusion (µm²/min) and loss (1/min) of every field in each region, ``(n_fields, 4)``.

    Columns are the region codes (air, stratum corneum, viable epidermis, dermis); basal
    uptake is not included (see :func:`coefficients`).
    """
    n_fields = len(sim.field_ids)
    by_region_d = np.zeros((n_fields, 4))
    by_region_k = np.zeros((n_fields, 4))
    for index, field_id in enumerate(sim.field_ids):
        spec = sim.spec.fields[field_id]
        by_region_d[index] = [
            0.0,
            spec.diffusion_um2_per_min * spec.stratum_corneum_diffusion_factor,
            spec.diffusion_um2_per_min,
            spec.diffusion_um2_per_min,
        ]
        by_region_k[index] = [
            0.0,
            LN2 / spec.stratum_corneum_half_life_min,
            LN2 / spec.half_life_min,
            LN2 / spec.dermis_half_life_min,
        ]
    return by_region_d, by_region_k


def coefficients(sim: Simulation, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel diffusion (µm²/min) and first-order loss (1/min) of every field.

    The loss is the region's decay plus ``basal_uptake_per_min`` in the voxels of
    ``sim.state.basal_voxels``. :class:`Coefficients` keeps the same values up to date.
    """
    by_region_d, by_region_k = coefficient_tables(sim)
    diffusion = by_region_d[:, region]
    decay = by_region_k[:, region]
    basal_uptake = sim.spec.keratinocyte.basal_uptake_per_min
    if basal_uptake > 0:
        decay[:, sim.state.basal_voxels] += basal_uptake
    return diffusion, decay


class Coefficients:
    """The solver's per-voxel coefficients, kept up to date voxel by voxel.

    Fields whose region tables are equal share one coefficient set (psoriasis_human: 7
    sets for 20 fields). :meth:`update` rewrites only the voxels whose region or basal
    uptake changed; the values are those of :func:`coefficients` (same bits: a table
    entry, plus the uptake in basal voxels).

    Attributes
    ----------
    coefficient_set : ndarray of int64, shape (n_fields,)
        Set of each field.
    diffusion, decay : ndarray, shape (n_sets, n_voxels)
        Coefficients of each set (valid after the first :meth:`update`).
    """

    def __init__(self, sim: Simulation):
        by_region_d, by_region_k = coefficient_tables(sim)
        tables = np.concatenate([by_region_d, by_region_k], axis=1)
        unique, first, inverse = np.unique(tables, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # sets numbered in order of first field
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        self.coefficient_set = rank[inverse.ravel()].astype(np.int64)
        self._table_d = np.ascontiguousarray(unique[order, :4])
        self._table_k = np.ascontiguousarray(unique[order, 4:])
        self._uptake = float(sim.spec.keratinocyte.basal_uptake_per_min)
        self._n_voxels = sim.layout.n_voxels
        self._region: np.ndarray | None = None
        self._basal = np.zeros(self._n_voxels, dtype=bool)
        self.diffusion = np.zeros((len(order), self._n_voxels))
        self.decay = np.zeros((len(order), self._n_voxels))

    def update(self, region: np.ndarray, basal_voxels: np.ndarray) -> bool:
        """Bring the coefficients to ``region`` and ``basal_voxels``; return whether they changed.

        Parameters
        ----------
        region : ndarray of uint8, shape (n_voxels,)
            Region code per voxel (:func:`regions`).
        basal_voxels : ndarray of int64
            Voxels holding basal cells (uptake ``basal_uptake_per_min`` there).
        """
        changed = None if self._region is None else region != self._region
        if self._uptake > 0:
            basal = np.zeros(self._n_voxels, dtype=bool)
            basal[basal_voxels] = True
            if changed is not None:
                changed |= basal != self._basal
            self._basal = basal
        self._region = region.copy()
        if changed is None:
            self.diffusion[...] = self._table_d[:, region]
            self.decay[...] = self._table_k[:, region]
            if self._uptake > 0:
                self.decay[:, self._basal] += self._uptake
            return True
        voxels = np.flatnonzero(changed)
        if not len(voxels):
            return False
        codes = region[voxels]
        self.diffusion[:, voxels] = self._table_d[:, codes]
        decay = self._table_k[:, codes]
        if self._uptake > 0:
            decay[:, self._basal[voxels]] += self._uptake
        self.decay[:, voxels] = decay
        return True


def secretion_sources(sim: Simulation, rows: np.ndarray, behaviour: np.ndarray) -> np.ndarray:
    """Sources (pg/mL/min) of every field from keratinocyte secretion behaviours."""
    kc = sim.state.kc
    layout = sim.layout
    voxel_ml = (layout.voxel_um**3) * 1e-12
    centre = kc.z_bottom_um[rows] + 0.5 * kc.height_um[rows]
    voxels = layout.voxel_of(kc.column[rows], centre)
    source = np.zeros((len(sim.field_ids), layout.n_voxels))
    fields, columns = secretion_columns(sim)
    # per voxel the sum of its cells' rates (in cell order), times the unit conversion
    scale = (layout.voxel_um / REFERENCE_VOXEL_UM) ** 3 / (1440.0 * voxel_ml)
    _kernels.scatter_rates(source, fields, behaviour, columns, voxels, scale)
    return source


def secretion_columns(sim: Simulation) -> tuple[np.ndarray, np.ndarray]:
    """Rows (fields not knocked out) and behaviour columns (``secrete_<field>``) of sources.

    Returns
    -------
    fields, columns : ndarray of int64
        Field row in the concentration array and the matching behaviour column.
    """
    fields = [i for i, f in enumerate(sim.field_ids) if f not in sim.knocked_out]
    names = sim.rules.behaviour_names
    columns = [names.index(f"secrete_{sim.field_ids[i]}") for i in fields]
    return np.array(fields, dtype=np.int64), np.array(columns, dtype=np.int64)


def hold_levels(sim: Simulation, conc: np.ndarray, region: np.ndarray) -> None:
    """Apply fixed levels (``fix_field``) and knockouts (held at 0) in tissue voxels, in place."""
    tissue_voxels = region >= REGION_EPIDERMIS
    for index, field_id in enumerate(sim.field_ids):
        if field_id in sim.knocked_out:
            conc[index] = 0.0
        elif field_id in sim.fixed_levels:
            conc[index][tissue_voxels] = sim.fixed_levels[field_id]
