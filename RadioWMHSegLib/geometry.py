"""Voxel-grid geometry shared by the library: whether two images lie on the same grid (one tolerance
for every module), and rotation matrices from angles.

Tolerances are loose enough for the rounding of file headers (a NIfTI stores float32, DICOM decimal
strings) and far below a voxel, so "the same grid" means the same voxels in the same place.
"""

from typing import Optional

import numpy as np

SPACING_RTOL = 1e-3
ORIGIN_ATOL_MM = 1e-2
DIRECTION_ATOL = 1e-3


def grid_difference(a, b) -> Optional[str]:
    """What differs between two images' (or image headers') grids, in words; None when they match."""
    if tuple(a.GetSize()) != tuple(b.GetSize()):
        return f"size {tuple(a.GetSize())} vs {tuple(b.GetSize())}"
    if not np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=SPACING_RTOL, atol=0):
        return f"spacing {tuple(np.round(a.GetSpacing(), 4))} vs {tuple(np.round(b.GetSpacing(), 4))}"
    if not np.allclose(a.GetOrigin(), b.GetOrigin(), atol=ORIGIN_ATOL_MM, rtol=0):
        return f"origin {tuple(np.round(a.GetOrigin(), 3))} vs {tuple(np.round(b.GetOrigin(), 3))}"
    if not np.allclose(a.GetDirection(), b.GetDirection(), atol=DIRECTION_ATOL, rtol=0):
        return "direction (orientation) differs"
    return None


def same_grid(a, b) -> bool:
    """True when two images (or headers) have the same size, spacing, origin and direction."""
    return grid_difference(a, b) is None


def rotation(ax_deg, ay_deg, az_deg) -> np.ndarray:
    """3x3 rotation matrix from angles in degrees about x, then y, then z (physical axes)."""
    ax, ay, az = np.deg2rad([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx
