"""The last step before the network: one resample of an image and its brain mask onto the crop grid, then normalisation.

`preprocess()` ends with it (after registration and N4), and training's cache of MNI-space datasets
uses it alone (preprocess_dataset.py), so both give the network the same kind of input.
"""

import numpy as np
import SimpleITK as sitk

from .. import templates
from ..geometry import same_grid
from .intensity import normalise_intensity


def resample_mask(mask: sitk.Image, reference: sitk.Image, transform=None) -> sitk.Image:
    """A 0/1 mask on another grid: linear interpolation thresholded at one half, smoother than nearest."""
    transform = transform if transform is not None else sitk.Transform()
    fraction = sitk.Resample(sitk.Cast(mask, sitk.sitkFloat32), reference, transform, sitk.sitkLinear, 0.0,
                             sitk.sitkFloat32)
    return sitk.Cast(fraction > 0.5, sitk.sitkUInt8)


def crop_and_normalise(image: sitk.Image, brain_mask: sitk.Image, mni_to_image=None, grid=None):
    """(network input float32, brain mask uint8), both (z, y, x) on `grid` (default: templates.crop_grid()).

    mni_to_image maps a grid point to the image's physical point (None: the image already lies in
    MNI space). The input is normalised inside the brain and 0 outside it. An MNI-space image already
    on the grid is taken as it is: interpolating it in place would only add rounding.
    """
    grid = templates.crop_grid() if grid is None else grid
    if mni_to_image is None and same_grid(image, grid) and same_grid(brain_mask, grid):
        on_grid, mask = sitk.Cast(image, sitk.sitkFloat32), brain_mask
    else:
        transform = mni_to_image if mni_to_image is not None else sitk.Transform()
        on_grid = sitk.Resample(image, grid, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        mask = resample_mask(brain_mask, grid, transform)
    mask = sitk.GetArrayFromImage(mask).astype(np.uint8)
    return normalise_intensity(sitk.GetArrayFromImage(on_grid), mask), mask
