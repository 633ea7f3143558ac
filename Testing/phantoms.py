"""Head-like test volumes made from the MNI template, placed in chosen native grids; the known affines, grids and
distances the preprocessing tests measure against."""

import numpy as np
import SimpleITK as sitk

from RadioWMHSegLib import templates
from RadioWMHSegLib.geometry import rotation


def flair_like_template():
    """FLAIR-like contrast from the template's tissue maps: CSF dark, WM below GM, zero outside."""
    gm = sitk.GetArrayFromImage(templates.mni_tissue("gm"))
    wm = sitk.GetArrayFromImage(templates.mni_tissue("wm"))
    brain = sitk.GetArrayFromImage(templates.mni_brain_mask()) > 0
    csf = np.clip(1.0 - gm - wm, 0, 1) * brain
    array = (300.0 * gm + 230.0 * wm + 60.0 * csf) * brain
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.CopyInformation(templates.mni_brain_mask())
    return image


def add_bright_blob(image_mni, centre_index, radius_mm=6.0, value=900.0):
    """Add a bright sphere (a 'lesion') at a template voxel; returns (image, blob mask) in MNI."""
    array = sitk.GetArrayFromImage(image_mni)
    z, y, x = np.ogrid[: array.shape[0], : array.shape[1], : array.shape[2]]
    cx, cy, cz = centre_index
    blob = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= radius_mm ** 2
    array = array.copy()
    array[blob] = value
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image_mni)
    mask = sitk.GetImageFromArray(blob.astype(np.uint8))
    mask.CopyInformation(image_mni)
    return out, mask


def native_grid(size=(110, 130, 100), spacing=(1.6, 1.6, 1.8), angle_deg=12.0, left_handed=True):
    """An oblique (rotated about two axes), optionally left-handed grid centred on the brain."""
    direction = rotation(angle_deg / 2, 0.0, angle_deg) @ (np.diag([1.0, 1.0, -1.0]) if left_handed else np.eye(3))
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing(spacing)
    grid.SetDirection(direction.flatten().tolist())
    # Place the grid's centre on the template brain's centre, shifted a little.
    centre = np.array(templates.mni_brain_mask().TransformContinuousIndexToPhysicalPoint((98, 116, 80)))
    half = direction @ (np.array(size) * np.array(spacing) / 2.0)
    grid.SetOrigin(tuple(centre + np.array([4.0, -6.0, 3.0]) - half))
    return grid


def to_native(image_mni, grid, interpolator=sitk.sitkLinear):
    """The same anatomy sampled on the native grid (physical space shared, no transform)."""
    return sitk.Resample(image_mni, grid, sitk.Transform(), interpolator, 0.0, image_mni.GetPixelID())


def phantom_with_blob(grid=None, centre_index=(70, 120, 100)):
    """(native FLAIR-like image, native blob mask) for a blob in the left deep white matter."""
    grid = grid or native_grid()
    image, blob = add_bright_blob(flair_like_template(), centre_index)
    return to_native(image, grid), to_native(blob, grid, sitk.sitkNearestNeighbor)


def two_blob_phantom():
    """A native FLAIR-like phantom with a bright blob in each hemisphere."""
    image, _ = add_bright_blob(flair_like_template(), (60, 120, 100))
    image, _ = add_bright_blob(image, (135, 120, 100))
    return to_native(image, native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6)))


# ---- known geometry (test_preprocessing, test_preprocessing_pipeline)

def known_mni_to_native():
    """A head 8% smaller than the template, tilted and shifted: MNI point -> native point."""
    transform = sitk.AffineTransform(3)
    transform.SetCenter((0.0, -18.0, 18.0))
    transform.SetMatrix((0.92 * rotation(8, -6, 12)).ravel().tolist())
    transform.SetTranslation((6.0, -9.0, 14.0))
    return transform


def left_handed_oblique_direction():
    """A tilted direction matrix with a negative determinant (a left-handed grid)."""
    direction = rotation(5, 10, -7) @ np.diag([1.0, 1.0, -1.0])
    assert np.linalg.det(direction) < 0
    return direction


def grid_covering(points, direction, spacing, margin_mm=10.0, pixel=sitk.sitkUInt8):
    """An empty image with the given direction and spacing whose voxels cover every point (+margin)."""
    coordinates = np.asarray(points) @ direction  # coordinates along the grid's axes
    low = coordinates.min(axis=0) - margin_mm
    high = coordinates.max(axis=0) + margin_mm
    size = [int(np.ceil((h - l) / s)) + 1 for l, h, s in zip(low, high, spacing)]
    grid = sitk.Image(size, pixel)
    grid.SetSpacing([float(s) for s in spacing])
    grid.SetDirection(direction.ravel().tolist())
    grid.SetOrigin((direction @ low).tolist())
    return grid


def corners(image):
    """The physical points of an image's eight corner voxels."""
    size = image.GetSize()
    return [image.TransformIndexToPhysicalPoint((i, j, k))
            for i in (0, size[0] - 1) for j in (0, size[1] - 1) for k in (0, size[2] - 1)]


def native_grid_for(mni_to_native, spacing=(1.3, 1.1, 2.5)):
    """An oblique, left-handed grid that holds the whole MNI crop once sent through `mni_to_native`."""
    mapped = [mni_to_native.TransformPoint(p) for p in corners(templates.crop_grid())]
    return grid_covering(mapped, left_handed_oblique_direction(), spacing)


def physical_centroid(image, weights=None):
    """Centre of mass (mm) of an image's voxels, weighted by their values or by `weights`."""
    array = sitk.GetArrayFromImage(image).astype(float)
    weights = array if weights is None else weights
    indices = np.argwhere(weights > 0)
    w = weights[weights > 0]
    xyz = indices[:, ::-1]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    points = np.array(image.GetOrigin()) + (xyz * np.array(image.GetSpacing())) @ direction.T
    return (points * w[:, None]).sum(axis=0) / w.sum()


def rms_distance(transform_a, transform_b, image):
    """RMS distance (mm) between where two transforms send the voxels of a mask (subsampled)."""
    indices = np.argwhere(sitk.GetArrayFromImage(image) > 0)[::500, ::-1]
    points = [image.TransformIndexToPhysicalPoint([int(v) for v in index]) for index in indices]
    distances = [np.linalg.norm(np.subtract(transform_a.TransformPoint(p), transform_b.TransformPoint(p)))
                 for p in points]
    return float(np.sqrt(np.mean(np.square(distances))))
