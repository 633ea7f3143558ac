"""The working image W: the input on an axis-aligned 1 mm isotropic grid, in the same physical space.

Only the grid changes, never the physical coordinates, so a result computed on W (or in MNI space
through a transform expressed in physical coordinates) goes back to the input grid with one resample.
"""

import numpy as np
import SimpleITK as sitk

WORKING_SPACING_MM = 1.0
# Directions and spacings closer than this to the working grid's are treated as equal, so an input
# that is already 1 mm and axis-aligned is only re-ordered (no interpolation).
_TOLERANCE = 1e-4


def _is_axis_permutation(direction: np.ndarray) -> bool:
    return np.allclose(np.abs(direction), np.round(np.abs(direction)), atol=_TOLERANCE)


def physical_bounding_box(image: sitk.Image):
    """(lower, upper) physical corners (LPS, mm) of the box holding every voxel centre of the image."""
    size = image.GetSize()
    corners = []
    for i in (0, size[0] - 1):
        for j in (0, size[1] - 1):
            for k in (0, size[2] - 1):
                corners.append(image.TransformContinuousIndexToPhysicalPoint((float(i), float(j), float(k))))
    corners = np.array(corners)
    return corners.min(axis=0), corners.max(axis=0)


def reorient_resample(image: sitk.Image, spacing_mm: float = WORKING_SPACING_MM) -> sitk.Image:
    """The image on an identity-direction (LPS) grid of isotropic spacing covering all of it (float32).

    An input that is already isotropic at `spacing_mm` with axis-aligned directions is only flipped and
    permuted (exact); anything else (oblique, thick slices, sub-millimetre) is resampled once, linearly.
    """
    image = sitk.Cast(image, sitk.sitkFloat32)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if _is_axis_permutation(direction) and np.allclose(image.GetSpacing(), spacing_mm, atol=_TOLERANCE):
        return sitk.DICOMOrient(image, "LPS")

    lower, upper = physical_bounding_box(image)
    # Half a voxel of margin on each side keeps the outer slices of a thick-slice input.
    half_voxel = 0.5 * np.array(image.GetSpacing()) @ np.abs(direction).T
    lower = lower - half_voxel
    upper = upper + half_voxel
    size = [int(np.ceil((hi - lo) / spacing_mm)) + 1 for lo, hi in zip(lower, upper)]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing([spacing_mm] * 3)
    grid.SetOrigin([float(v) for v in lower])
    grid.SetDirection(np.eye(3).ravel().tolist())
    return sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
