"""A realistic demo case: a skull-on synthetic FLAIR with radiation WMH on an oblique scanner-like grid.

It is what a user's raw scan looks like to the pipeline (not in MNI space, oblique, left-handed
direction, skull and scalp on), so it exercises every preprocessing stage; the bundled README
sample is made with make_native_sample().
"""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .. import geometry
from ..safe_write import atomic_write_image
from .anatomy import padded_crop_grid
from .generator import generate_case_with_brain

# x (left-right), y (anterior-posterior), z (axial slices): wide and tall enough for a whole adult
# head from the vertex to below the cerebellum, as a clinical 3D FLAIR covers it.
NATIVE_SIZE = (192, 224, 176)
# The box is centred on the brain, shifted up (mm) so that the scalp over the vertex stays in it.
CENTRE_SHIFT_UP_MM = 8.0
# Stored white-matter level (scanner units are arbitrary: the pipeline normalises intensities).
# Low enough that the noise costs few bits, so the bundled sample stays small, while the noise
# (1-6 % of WM) still spans several integer steps.
STORED_WM_LEVEL = 100.0


def native_grid(centre_lps, rng, size=NATIVE_SIZE) -> sitk.Image:
    """An oblique 1 mm grid (10-15 degrees about the left-right axis, a few about the others) with a
    left-handed direction (x index runs left to right, as in radiological storage), centred on a point."""
    tilt = rng.uniform(10.0, 15.0) * rng.choice([-1.0, 1.0])
    rotation = geometry.rotation(tilt, rng.uniform(-4.0, 4.0), rng.uniform(-4.0, 4.0), intrinsic=True)
    direction = rotation @ np.diag([1.0, -1.0, 1.0])  # determinant -1: left-handed
    grid = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    grid.SetSpacing((1.0, 1.0, 1.0))
    grid.SetDirection(direction.ravel().tolist())
    half = (np.asarray(size, float) - 1.0) / 2.0
    grid.SetOrigin((np.asarray(centre_lps, float) - direction @ half).tolist())
    return grid


def _brain_centre(brain: sitk.Image) -> np.ndarray:
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(brain)
    box = statistics.GetBoundingBox(1)
    centre = [box[i] + (box[i + 3] - 1) / 2.0 for i in range(3)]
    return np.asarray(brain.TransformContinuousIndexToPhysicalPoint(centre))


def make_native_sample(seed, out_image_path, out_label_path, *, severity=0.5, out_brain_path=None,
                       overwrite=False, hard_negatives=True) -> dict:
    """Write a skull-on synthetic FLAIR (int16) and its WMH label (uint8) on an oblique native grid,
    and optionally the true brain mask (uint8) on the same grid, to judge a brain extraction.

    Returns the case's metadata (generator draws, native grid). Files are written atomically and
    never replace existing ones unless overwrite.
    """
    generation_grid = padded_crop_grid()
    image, label, brain, metadata = generate_case_with_brain(
        seed, "radiation", skull=True, thick_slice_probability=0.0, severity=severity, grid=generation_grid,
        hard_negatives=hard_negatives)
    rng = np.random.default_rng([int(seed), 2])
    centre = _brain_centre(brain) + np.array([0.0, 0.0, CENTRE_SHIFT_UP_MM])  # LPS: +z is superior
    grid = native_grid(centre, rng)
    native_image = sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, -1.0, sitk.sitkFloat32)
    native_label = sitk.Resample(label, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)

    # Corners of the oblique box fall outside the generated volume: give them background noise
    # (Rayleigh, as magnitude images have) instead of a flat edge no scanner makes.
    array = sitk.GetArrayFromImage(native_image)
    outside = array < 0
    sigma = metadata["acquisition"]["noise_sigma"] * metadata["contrast"]["wm_level"]
    noise = rng.standard_normal((2, int(outside.sum()))) * sigma
    array[outside] = np.hypot(noise[0], noise[1])
    array *= STORED_WM_LEVEL / metadata["contrast"]["wm_level"]
    scanner_like = sitk.GetImageFromArray(np.clip(np.rint(array), 0, 32767).astype(np.int16))
    scanner_like.CopyInformation(grid)

    atomic_write_image(scanner_like, Path(out_image_path), overwrite=overwrite)
    atomic_write_image(native_label, Path(out_label_path), overwrite=overwrite)
    if out_brain_path is not None:
        native_brain = sitk.Resample(brain, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        atomic_write_image(native_brain, Path(out_brain_path), overwrite=overwrite)
    metadata = dict(metadata)
    metadata["native_grid"] = {"size": list(grid.GetSize()), "origin": [round(v, 3) for v in grid.GetOrigin()],
                               "direction": [round(v, 5) for v in grid.GetDirection()]}
    metadata["wmh_volume_ml_native"] = round(float(sitk.GetArrayViewFromImage(native_label).astype(bool).sum()) / 1000.0, 3)
    return metadata
