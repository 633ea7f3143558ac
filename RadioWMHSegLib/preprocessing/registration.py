"""Affine registration of the working image to the MNI152 2009c template (Mattes mutual information).

The result is a transform with the template as the fixed image: it maps an MNI point to the
physical point of the same anatomy in the input, which is what resampling MNI-space results back
onto the input grid needs.

Speed comes from registering only at 4 mm and 2 mm (the affine does not need finer detail), on a
sample of the voxels inside a dilated template brain mask. The template is skull-stripped and the
input usually is not: the fixed mask keeps the metric on the brain and a few millimetres around it,
and the starting position puts the template brain under the upper part of the head (found from the
vertex down, so that a scan reaching the neck or shoulders does not pull the start too low).
"""

import functools

import numpy as np
import SimpleITK as sitk

from .. import templates
from .bias_field import head_mask

LEVELS_MM = (4, 2)
ITERATIONS = (100, 50)
SAMPLING_PERCENTAGE = 0.15
HISTOGRAM_BINS = 32
FIXED_MASK_MARGIN_MM = 8
# Height below the top of the head (or brain) used to line up the starting position: covers the
# cerebrum of any adult head, and stays within the slab of a thick-slice 2D acquisition.
TOP_SLAB_MM = 100.0
# Fixed sampling seed: the same image always gives the same transform.
SAMPLING_SEED = 20240601


def _smooth_shrink(image: sitk.Image, factor: int) -> sitk.Image:
    """The image at factor x its spacing, each coarse voxel the mean of the fine ones (no aliasing)."""
    if factor <= 1:
        return image
    return sitk.BinShrink(image, [factor] * 3)


@functools.lru_cache(maxsize=None)
def _template_level(factor: int):
    """(template, fixed mask) at one pyramid level; the template never changes, so this is computed once."""
    fixed = _smooth_shrink(templates.mni_t1(), factor)
    mask = sitk.Shrink(templates.mni_brain_mask(), [factor] * 3)
    radius = max(1, int(round(FIXED_MASK_MARGIN_MM / (factor * templates.mni_t1().GetSpacing()[0]))))
    mask = sitk.BinaryDilate(mask, [radius] * 3)
    return fixed, mask


def _centre_of_top_slab(mask: sitk.Image) -> np.ndarray:
    """Physical centroid (LPS, mm) of the part of mask within TOP_SLAB_MM of its most superior voxel."""
    indices = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)[:, ::-1].astype(float)  # (x, y, z) index order
    direction = np.array(mask.GetDirection()).reshape(3, 3)
    points = np.array(mask.GetOrigin()) + (indices * np.array(mask.GetSpacing())) @ direction.T
    superior = points[:, 2]  # LPS: +z is superior
    in_slab = superior >= superior.max() - TOP_SLAB_MM
    return points[in_slab].mean(axis=0)


def initial_transform(moving: sitk.Image) -> sitk.AffineTransform:
    """Translation that puts the template brain's upper slab on the moving image's upper head slab."""
    coarse_moving = sitk.Shrink(moving, [4] * 3)
    moving_centre = _centre_of_top_slab(head_mask(coarse_moving))
    template_mask = sitk.Shrink(templates.mni_brain_mask(), [2] * 3)
    template_centre = _centre_of_top_slab(template_mask)
    transform = sitk.AffineTransform(3)
    transform.SetCenter(template_centre.tolist())
    transform.SetTranslation((moving_centre - template_centre).tolist())
    return transform


def register_to_mni(moving: sitk.Image, levels_mm=LEVELS_MM, iterations=ITERATIONS,
                    sampling_percentage: float = SAMPLING_PERCENTAGE):
    """(AffineTransform MNI point -> moving physical point, parameters) for a 1 mm working image.

    The registration runs single-threaded (its own setting, not the process's): the threaded metric
    sums in a varying order, so the same image would give a transform that differs in its last bits
    from run to run (and so a mask that can differ by a voxel). At 4 and 2 mm the registration is
    cheap enough for one thread; every other ITK filter keeps the process's threads.
    """
    moving = sitk.Cast(moving, sitk.sitkFloat32)
    transform = initial_transform(moving)
    metric_values = []
    iterations_run = []
    for level_mm, n_iterations in zip(levels_mm, iterations):
        factor = int(round(level_mm / templates.mni_t1().GetSpacing()[0]))
        fixed, fixed_mask = _template_level(factor)
        method = sitk.ImageRegistrationMethod()
        method.SetNumberOfThreads(1)  # the metric and optimizer take their threads from the method
        method.SetNumberOfWorkUnits(1)
        method.SetMetricAsMattesMutualInformation(HISTOGRAM_BINS)
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(sampling_percentage, SAMPLING_SEED)
        method.SetMetricFixedMask(fixed_mask)
        method.SetInterpolator(sitk.sitkLinear)
        # The step is estimated every iteration and capped at one coarse voxel: large moves early,
        # and the convergence window stops the level as soon as the metric flattens.
        method.SetOptimizerAsGradientDescent(
            learningRate=float(level_mm), numberOfIterations=int(n_iterations), convergenceMinimumValue=1e-6,
            convergenceWindowSize=10, estimateLearningRate=method.EachIteration,
            maximumStepSizeInPhysicalUnits=float(level_mm),
        )
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetInitialTransform(transform, inPlace=True)
        method.Execute(fixed, _smooth_shrink(moving, factor))
        metric_values.append(round(float(method.GetMetricValue()), 4))
        iterations_run.append(int(method.GetOptimizerIteration()))
    parameters = {
        "fixed": f"{templates.TEMPLATE_NAME} T1 (skull-stripped)",
        "transform": "affine",
        "metric": f"Mattes mutual information, {HISTOGRAM_BINS} bins",
        "levels_mm": list(levels_mm),
        "max_iterations": [int(n) for n in iterations],
        "iterations_run": iterations_run,
        "optimizer": "gradient descent, step estimated each iteration, at most one coarse voxel",
        "sampling_percentage": sampling_percentage,
        "fixed_mask_margin_mm": FIXED_MASK_MARGIN_MM,
        "initialisation": f"centre of the top {TOP_SLAB_MM:g} mm of head and template brain",
        "final_metric": metric_values,
        "scale_mni_to_native": round(float(np.linalg.det(np.array(transform.GetMatrix()).reshape(3, 3))), 4),
    }
    return transform, parameters
