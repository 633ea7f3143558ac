"""Robust intensity normalisation inside the brain, shared by training and inference.

FLAIR intensities have no physical unit, so every image is brought to the same scale: centred on
the brain median and divided by a robust spread (IQR / 1.349, equal to the standard deviation for a
normal distribution), then clipped to [-CLIP_SIGMA, +CLIP_SIGMA] robust units. The clip is set in
robust units rather than at a high percentile on purpose: with a lesion load above 0.5 % of the
brain a 99.5th-percentile clip would flatten exactly the lesions the network must see, while
+12 units keeps every lesion's contrast and still caps artefacts and vessels. Lesions are a few percent of the brain, so neither the median nor the
interquartile range moves when they grow. The result depends only on the brain's intensity
distribution, never on the grid or voxel order, and is deterministic.
"""

import numpy as np

from ..errors import InputError

CLIP_SIGMA = 12.0
IQR_TO_SIGMA = 1.349  # IQR of a unit normal distribution
MIN_BRAIN_VOXELS = 100


def normalise_intensity(array: np.ndarray, brain_mask: np.ndarray) -> np.ndarray:
    """float32 array: (clip(array) - brain median) / robust brain spread inside brain_mask, 0 outside."""
    array = np.asarray(array, dtype=np.float32)
    inside = np.asarray(brain_mask) > 0
    if inside.shape != array.shape:
        raise ValueError(f"image {array.shape} and brain mask {inside.shape} differ in shape")
    brain = array[inside].astype(np.float64)
    if brain.size < MIN_BRAIN_VOXELS:
        raise InputError(f"the brain mask holds only {brain.size} voxels, too few to normalise the image: check the brain mask or the image")
    q25, median, q75 = np.percentile(brain, [25, 50, 75])
    scale = (q75 - q25) / IQR_TO_SIGMA
    if not scale > 0:
        # A brain with more than half its voxels at one value: fall back to the plain spread.
        scale = float(np.std(brain))
    if not scale > 0:
        raise InputError("the image is constant inside the brain mask, so it cannot be normalised: check the image")
    output = np.zeros(array.shape, dtype=np.float32)
    output[inside] = np.clip((brain - median) / scale, -CLIP_SIGMA, CLIP_SIGMA).astype(np.float32)
    return output
