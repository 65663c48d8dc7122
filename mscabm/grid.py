"""Lattice geometry: padded grids and neighbour offsets (DESIGN.md, principle 2 and "Space").

Axis 0 is depth (index 0 the deepest layer); the lateral axes are ``(x,)`` in 2-D and
``(y, x)`` in 3-D. A voxel's raveled index on the unpadded grid is ``z * n_columns + c`` with
the column index ``c = y * nx + x``. Kernels work on *padded* arrays with one ghost layer on
every side, raveled in C order, and find neighbours through offset tables, so one kernel serves
2-D and 3-D and inner loops have no edge branches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Grid"]

_LATERAL_BCS = ("periodic", "no_flux")
_CONNECTIVITIES = ("von_neumann", "moore")


@dataclass(frozen=True)
class Grid:
    """A 2-D ``(z, x)`` or 3-D ``(z, y, x)`` voxel grid with lateral boundary conditions.

    Parameters
    ----------
    shape : tuple of int
        Voxels along ``(z, x)`` or ``(z, y, x)``, each >= 1.
    lateral_bc : {"periodic", "no_flux"}
        Lateral boundary: ghosts wrap around (periodic) or copy the edge (no flux). Depth is
        never periodic.
    """

    shape: tuple[int, ...]
    lateral_bc: Literal["periodic", "no_flux"] = "periodic"

    def __post_init__(self) -> None:
        try:
            shape = tuple(int(s) for s in self.shape)
        except (TypeError, ValueError):
            raise ValueError(f"shape must be a tuple of ints, got {self.shape!r}") from None
        if (
            len(shape) not in (2, 3)
            or any(s < 1 for s in shape)
            or any(isinstance(s, bool | float) for s in self.shape)
        ):
            raise ValueError(
                f"shape must be (z, x) or (z, y, x) with positive integer sizes, got {self.shape!r}"
            )
        if self.lateral_bc not in _LATERAL_BCS:
            raise ValueError(f"lateral_bc must be one of {_LATERAL_BCS}, got {self.lateral_bc!r}")
        object.__setattr__(self, "shape", shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions (2 or 3)."""
        return len(self.shape)

    @property
    def n_z(self) -> int:
        """Number of voxel layers in depth."""
        return self.shape[0]

    @property
    def lateral_shape(self) -> tuple[int, ...]:
        """Shape of the lateral axes: ``(nx,)`` or ``(ny, nx)``."""
        return self.shape[1:]

    @property
    def n_columns(self) -> int:
        """Number of lateral columns (``nx`` or ``ny * nx``)."""
        return int(np.prod(self.shape[1:]))

    @property
    def n_voxels(self) -> int:
        """Number of voxels of the unpadded grid."""
        return self.n_z * self.n_columns

    @property
    def padded_shape(self) -> tuple[int, ...]:
        """Shape with one ghost layer on every side."""
        return tuple(s + 2 for s in self.shape)

    @property
    def n_padded(self) -> int:
        """Number of voxels of the padded grid."""
        return int(np.prod(self.padded_shape))

    def _padded_strides(self) -> tuple[int, ...]:
        strides = []
        step = 1
        for size in reversed(self.padded_shape):
            strides.append(step)
            step *= size
        return tuple(reversed(strides))

    def offsets(
        self,
        connectivity: Literal["von_neumann", "moore"] = "von_neumann",
        include_centre: bool = False,
    ) -> np.ndarray:
        """Return neighbour offsets on the raveled padded array, in increasing order.

        Parameters
        ----------
        connectivity : {"von_neumann", "moore"}
            Face neighbours (4 in 2-D, 6 in 3-D) or face, edge and corner neighbours (8, 26).
        include_centre : bool, optional
            Include offset 0 (the voxel itself).

        Returns
        -------
        numpy.ndarray of int64
            Offsets to add to a padded raveled index.
        """
        if connectivity not in _CONNECTIVITIES:
            raise ValueError(f"connectivity must be one of {_CONNECTIVITIES}, got {connectivity!r}")
        strides = self._padded_strides()
        offsets = []
        for step in itertools.product((-1, 0, 1), repeat=self.ndim):
            distance = sum(abs(s) for s in step)
            if distance == 0 and not include_centre:
                continue
            if connectivity == "von_neumann" and distance > 1:
                continue
            offsets.append(sum(s * stride for s, stride in zip(step, strides, strict=True)))
        return np.array(sorted(offsets), dtype=np.int64)

    def neighbour_table(
        self, connectivity: Literal["von_neumann", "moore"] = "von_neumann"
    ) -> np.ndarray:
        """Return the raveled index of every neighbour of every voxel, -1 where outside.

        Row ``v`` belongs to voxel ``v = z * n_columns + c`` of the unpadded grid; column ``j``
        is the neighbour at offset ``j`` of :meth:`offsets` (same connectivity, same order).
        Neighbours below ``z = 0`` or above the top layer are -1; lateral neighbours wrap
        around (periodic, so on a grid one or two voxels wide a voxel may be its own neighbour
        or appear twice) or are -1 beyond the edge (no flux).

        Parameters
        ----------
        connectivity : {"von_neumann", "moore"}
            Face neighbours (4 in 2-D, 6 in 3-D) or face, edge and corner neighbours (8, 26).

        Returns
        -------
        numpy.ndarray of int64, shape (n_voxels, k)
            Raveled neighbour indices on the unpadded grid, or -1.
        """
        if connectivity not in _CONNECTIVITIES:
            raise ValueError(f"connectivity must be one of {_CONNECTIVITIES}, got {connectivity!r}")
        strides = self._padded_strides()
        steps = [
            step
            for step in itertools.product((-1, 0, 1), repeat=self.ndim)
            if 0 < sum(abs(s) for s in step) <= (1 if connectivity == "von_neumann" else self.ndim)
        ]
        # same order as offsets(): increasing padded offset
        steps.sort(
            key=lambda step: sum(s * stride for s, stride in zip(step, strides, strict=True))
        )
        coords = np.indices(self.shape, dtype=np.int64).reshape(self.ndim, -1)
        table = np.empty((self.n_voxels, len(steps)), dtype=np.int64)
        for j, step in enumerate(steps):
            moved = coords + np.array(step, dtype=np.int64)[:, None]
            outside = (moved[0] < 0) | (moved[0] >= self.n_z)
            for axis in range(1, self.ndim):
                if self.lateral_bc == "periodic":
                    moved[axis] %= self.shape[axis]
                else:
                    outside |= (moved[axis] < 0) | (moved[axis] >= self.shape[axis])
            clipped = [np.clip(moved[axis], 0, self.shape[axis] - 1) for axis in range(self.ndim)]
            index = np.ravel_multi_index(tuple(clipped), self.shape)
            table[:, j] = np.where(outside, -1, index)
        return table

    def pad(self, array: ArrayLike, fill: Literal["edge"] | float = "edge") -> np.ndarray:
        """Return ``array`` with one ghost layer on every side, filled from the boundaries.

        Lateral ghosts wrap around (periodic) or copy the edge (no flux). Depth ghosts copy the
        edge (``fill="edge"``) or take a constant (``fill=<number>``); lateral padding comes
        first, so depth ghosts at the corners follow the same rule.

        Parameters
        ----------
        array : array_like
            Values of shape :attr:`shape`.
        fill : "edge" or float, optional
            Rule for the ghost layers below and above the grid.

        Returns
        -------
        numpy.ndarray
            Shape :attr:`padded_shape`, same dtype as ``array``.
        """
        values = np.asarray(array)
        if values.shape != self.shape:
            raise ValueError(f"array must have shape {self.shape}, got {values.shape}")
        lateral_mode = "wrap" if self.lateral_bc == "periodic" else "edge"
        padded = np.pad(values, [(0, 0)] + [(1, 1)] * (self.ndim - 1), mode=lateral_mode)
        depth_width = [(1, 1)] + [(0, 0)] * (self.ndim - 1)
        if isinstance(fill, str):
            if fill != "edge":
                raise ValueError(f'fill must be "edge" or a number, got {fill!r}')
            return np.pad(padded, depth_width, mode="edge")
        if isinstance(fill, bool) or not isinstance(fill, int | float | np.number):
            raise ValueError(f'fill must be "edge" or a number, got {fill!r}')
        return np.pad(padded, depth_width, mode="constant", constant_values=fill)

    def unpad(self, padded: np.ndarray) -> np.ndarray:
        """Return the interior view of a padded array (no copy).

        Parameters
        ----------
        padded : numpy.ndarray
            Array of shape :attr:`padded_shape`.

        Returns
        -------
        numpy.ndarray
            View of shape :attr:`shape`.
        """
        if padded.shape != self.padded_shape:
            raise ValueError(f"padded must have shape {self.padded_shape}, got {padded.shape}")
        return padded[(slice(1, -1),) * self.ndim]

    def _check_flat(self, flat_index: ArrayLike) -> np.ndarray:
        index = np.asarray(flat_index)
        if not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"voxel indices must be integers, got dtype {index.dtype}")
        index = index.astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.n_voxels):
            raise ValueError(f"voxel indices must be in [0, {self.n_voxels})")
        return index

    def padded_index(self, flat_index: ArrayLike) -> np.ndarray:
        """Map raveled indices of the unpadded grid to raveled indices of the padded grid.

        Parameters
        ----------
        flat_index : array_like of int
            Indices in [0, :attr:`n_voxels`).

        Returns
        -------
        numpy.ndarray of int64
            Same shape as ``flat_index``.
        """
        index = self._check_flat(flat_index)
        coords = np.unravel_index(index, self.shape)
        return np.ravel_multi_index(tuple(c + 1 for c in coords), self.padded_shape).astype(
            np.int64
        )

    def column_of(self, flat_index: ArrayLike) -> np.ndarray:
        """Return the lateral column index ``c`` of raveled voxel indices.

        Parameters
        ----------
        flat_index : array_like of int
            Indices in [0, :attr:`n_voxels`).

        Returns
        -------
        numpy.ndarray of int64
            ``flat_index % n_columns``.
        """
        return self._check_flat(flat_index) % self.n_columns

    def z_of(self, flat_index: ArrayLike) -> np.ndarray:
        """Return the depth layer ``z`` of raveled voxel indices.

        Parameters
        ----------
        flat_index : array_like of int
            Indices in [0, :attr:`n_voxels`).

        Returns
        -------
        numpy.ndarray of int64
            ``flat_index // n_columns``.
        """
        return self._check_flat(flat_index) // self.n_columns

    def flat_index(self, z: ArrayLike, column: ArrayLike) -> np.ndarray:
        """Return raveled voxel indices ``z * n_columns + column``.

        Parameters
        ----------
        z : array_like of int
            Depth layers in [0, :attr:`n_z`).
        column : array_like of int
            Column indices in [0, :attr:`n_columns`).

        Returns
        -------
        numpy.ndarray of int64
            Broadcast shape of ``z`` and ``column``.
        """
        z = np.asarray(z, dtype=np.int64)
        column = np.asarray(column, dtype=np.int64)
        if z.size and (z.min() < 0 or z.max() >= self.n_z):
            raise ValueError(f"z must be in [0, {self.n_z})")
        if column.size and (column.min() < 0 or column.max() >= self.n_columns):
            raise ValueError(f"column must be in [0, {self.n_columns})")
        return z * self.n_columns + column
