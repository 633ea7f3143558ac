"""N4 bias-field correction, fitted on a shrunk copy and applied at full resolution.

The bias field is smooth, so fitting it on a 4x shrunk image loses nothing that matters and is
~60x cheaper; `GetLogBiasFieldAsImage` then evaluates the fitted B-spline on the full grid.
"""

import numpy as np
import SimpleITK as sitk

SHRINK_FACTOR = 4
ITERATIONS = (50, 50, 50, 50)  # maximum per fitting level (4 levels)
CONVERGENCE_THRESHOLD = 1e-3


def head_mask(image: sitk.Image) -> sitk.Image:
    """Rough foreground (head or brain) of an MR image: Otsu threshold, largest component, holes filled."""
    # Otsu on the log intensity, so that dark-but-real tissue (CSF, skull marrow) is not lumped with air.
    values = sitk.GetArrayViewFromImage(image)
    positive = values[values > 0]
    if positive.size == 0:
        return sitk.Cast(image * 0, sitk.sitkUInt8)
    floor = float(np.percentile(positive, 1))
    logged = sitk.Log(sitk.Clamp(image, sitk.sitkFloat32, floor, float(positive.max()) + 1.0))
    mask = sitk.OtsuThreshold(logged, 0, 1)
    mask = sitk.BinaryMorphologicalOpening(mask, [1, 1, 1])
    components = sitk.RelabelComponent(sitk.ConnectedComponent(mask), sortByObjectSize=True)
    mask = components == 1
    mask = sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(mask, [2, 2, 2]))
    return sitk.Cast(mask, sitk.sitkUInt8)


def correct_bias_field(image: sitk.Image, mask: sitk.Image = None, shrink_factor: int = SHRINK_FACTOR,
                       iterations=ITERATIONS, convergence_threshold: float = CONVERGENCE_THRESHOLD):
    """(bias-corrected image, parameters) for a float image; the field is fitted inside mask (default: head)."""
    image = sitk.Cast(image, sitk.sitkFloat32)
    mask_source = "given" if mask is not None else "head (Otsu of log intensity)"
    if mask is None:
        mask = head_mask(image)
    # N4 works on log intensities: voxels at or below zero must stay out of the fit.
    mask = sitk.Cast(sitk.And(mask > 0, image > 0), sitk.sitkUInt8)

    shrink = [shrink_factor] * image.GetDimension()
    small_image = sitk.Shrink(image, shrink)
    small_mask = sitk.Shrink(mask, shrink)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(n) for n in iterations])
    corrector.SetConvergenceThreshold(convergence_threshold)
    corrector.Execute(small_image, small_mask)

    log_bias = corrector.GetLogBiasFieldAsImage(image)
    corrected = sitk.Cast(image / sitk.Exp(log_bias), sitk.sitkFloat32)
    parameters = {
        "shrink_factor": shrink_factor,
        "max_iterations": [int(n) for n in iterations],
        "convergence_threshold": convergence_threshold,
        "fit_mask": mask_source,
    }
    return corrected, parameters
