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


def grid_difference(a, b, tolerance=None) -> Optional[str]:
    """What differs between two images' (or image headers') grids, in words; None when they match.

    tolerance: one stricter bound for spacing (relative), origin (mm) and direction, for checks of
    exactness (a geometry carried through a conversion); None: the library's tolerances above.
    """
    spacing_rtol, origin_atol, direction_atol = ((SPACING_RTOL, ORIGIN_ATOL_MM, DIRECTION_ATOL) if tolerance is None
                                                 else (tolerance,) * 3)
    if tuple(a.GetSize()) != tuple(b.GetSize()):
        return f"size {tuple(a.GetSize())} vs {tuple(b.GetSize())}"
    if not np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=spacing_rtol, atol=0):
        return f"spacing {tuple(np.round(a.GetSpacing(), 4))} vs {tuple(np.round(b.GetSpacing(), 4))}"
    if not np.allclose(a.GetOrigin(), b.GetOrigin(), atol=origin_atol, rtol=0):
        return f"origin {tuple(np.round(a.GetOrigin(), 3))} vs {tuple(np.round(b.GetOrigin(), 3))}"
    if not np.allclose(a.GetDirection(), b.GetDirection(), atol=direction_atol, rtol=0):
        return "direction (orientation) differs"
    return None


def same_grid(a, b, tolerance=None) -> bool:
    """True when two images (or headers) have the same size, spacing, origin and direction."""
    return grid_difference(a, b, tolerance) is None


def rotation(ax_deg, ay_deg, az_deg, intrinsic=False) -> np.ndarray:
    """3x3 rotation matrix from angles in degrees: about the fixed x, then y, then z axes (Rz Ry Rx), or
    with intrinsic=True about x, then the turned y, then the twice-turned z (Rx Ry Rz)."""
    ax, ay, az = np.deg2rad([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rx @ ry @ rz if intrinsic else rz @ ry @ rx
