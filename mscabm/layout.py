"""Fixed geometry of a run: lattice shape, basement membrane, capillary sites, column neighbours.

Axis 0 is depth (index 0 = deepest dermis); heights are µm above the bottom of the lattice.
The basement membrane height of column c is ``dermis_depth_um + amplitude · undulation(c)`` with
a cosine undulation along x (and y in 3-D) of the given period: dermal papillae where it is
highest, rete ridges where it is lowest. Papillary capillary loops sit ``capillary_depth_um``
below the basement membrane at the papilla tips, one per ``capillary.spacing_um``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mscabm.scenario import Scenario


@dataclass(frozen=True)
class Layout:
    """Geometry derived from a scenario (see module docstring).

    Attributes
    ----------
    shape
        ``(nz, nx)`` or ``(nz, ny, nx)``.
    voxel_um
        Voxel edge.
    bm_height_um
        ``(n_columns,)`` basement-membrane height per column.
    neighbours
        ``(n_columns, k)`` lateral neighbour columns (periodic), k = 2 in 2-D, 4 in 3-D.
    reach
        ``(n_columns, m)`` columns within two lateral steps, nearest first (the column itself,
        then its neighbours, then theirs): where a basal daughter may be placed.
    capillary_voxels
        Raveled voxel indices of capillary sites.
    bm_length_ratio
        Basement-membrane length (2-D) or area (3-D) per unit of surface.
    """

    shape: tuple[int, ...]
    voxel_um: float
    bm_height_um: np.ndarray
    neighbours: np.ndarray
    reach: np.ndarray
    capillary_voxels: np.ndarray
    bm_length_ratio: float

    @property
    def n_columns(self) -> int:
        """Number of lateral columns."""
        return math.prod(self.shape[1:])

    @property
    def nz(self) -> int:
        """Number of voxels in depth."""
        return self.shape[0]

    @property
    def n_voxels(self) -> int:
        """Number of voxels."""
        return math.prod(self.shape)

    @property
    def lateral_shape(self) -> tuple[int, ...]:
        """Shape of one depth slice."""
        return self.shape[1:]

    @property
    def surface_mm2(self) -> float:
        """Skin surface the lattice represents, mm² (2-D: width × one voxel of thickness)."""
        lateral_mm = [n * self.voxel_um / 1000.0 for n in self.shape[1:]]
        if len(lateral_mm) == 1:
            lateral_mm.append(self.voxel_um / 1000.0)
        return float(np.prod(lateral_mm))

    @property
    def width_mm(self) -> float:
        """Section width along x, mm."""
        return self.shape[-1] * self.voxel_um / 1000.0

    def voxel_of(self, column: np.ndarray, height_um: np.ndarray) -> np.ndarray:
        """Raveled voxel index holding a height (µm) in a column (clipped to the lattice)."""
        z = np.clip((np.asarray(height_um) / self.voxel_um).astype(np.int64), 0, self.nz - 1)
        return z * self.n_columns + np.asarray(column, dtype=np.int64)


def build_layout(scenario: Scenario) -> Layout:
    """Compute the fixed geometry of a scenario.

    Parameters
    ----------
    scenario
        A validated scenario.

    Returns
    -------
    Layout
    """
    geometry = scenario.geometry
    shape = geometry.shape
    voxel = geometry.voxel_um
    lateral = shape[1:]
    coords = np.meshgrid(*[(np.arange(n) + 0.5) * voxel for n in lateral], indexing="ij")
    phase = sum(np.cos(2 * np.pi * c / geometry.bm_undulation_period_um) for c in coords) / len(
        coords
    )
    bm = geometry.dermis_depth_um + geometry.bm_undulation_amplitude_um * phase
    bm_height_um = np.ascontiguousarray(bm.ravel(), dtype=np.float64)

    # lateral neighbours (periodic)
    index = np.arange(int(np.prod(lateral))).reshape(lateral)
    neighbour_list = []
    for axis in range(len(lateral)):
        for shift in (-1, 1):
            neighbour_list.append(np.roll(index, -shift, axis=axis).ravel())
    neighbours = np.stack(neighbour_list, axis=1).astype(np.int64)
    reach_rows = []
    for column in range(neighbours.shape[0]):
        first = [int(n) for n in neighbours[column]]
        second = [int(m) for n in first for m in neighbours[n]]
        reach_rows.append(list(dict.fromkeys([column, *first, *second])))
    width = max(len(r) for r in reach_rows)
    reach = np.array([r + [r[-1]] * (width - len(r)) for r in reach_rows], dtype=np.int64)

    # capillary loops at papilla tips, every spacing_um along each lateral axis
    spacing = max(1, round(scenario.capillary.spacing_um / voxel))
    offset = [0] * len(lateral)
    mask = np.ones(lateral, dtype=bool)
    for axis, n in enumerate(lateral):
        along = (np.arange(n) - offset[axis]) % spacing == 0
        shape_axis = [1] * len(lateral)
        shape_axis[axis] = n
        mask &= along.reshape(shape_axis)
    columns = np.flatnonzero(mask.ravel())
    cap_height = bm_height_um[columns] - geometry.capillary_depth_um
    capillary_voxels = (cap_height / voxel).astype(np.int64) * int(np.prod(lateral)) + columns

    # basement-membrane length (area) per unit surface, from the height profile
    gradients = np.gradient(bm, voxel) if len(lateral) > 1 else [np.gradient(bm, voxel)]
    slope2 = sum(g**2 for g in gradients)
    bm_length_ratio = float(np.mean(np.sqrt(1.0 + slope2)))
    return Layout(
        shape=shape,
        voxel_um=voxel,
        bm_height_um=bm_height_um,
        neighbours=neighbours,
        reach=reach,
        capillary_voxels=np.ascontiguousarray(capillary_voxels, dtype=np.int64),
        bm_length_ratio=bm_length_ratio,
    )
