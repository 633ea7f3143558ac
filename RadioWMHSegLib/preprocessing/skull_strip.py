"""Brain masks: the choice of method, the template mask carried back and fitted to the image (fast,
for heads without much scalp), and the foreground of an image the user has already skull-stripped.
HD-BET, the default for raw scans, lives in brain_extraction.py.

Every mask is uint8 0/1 on the grid of the image it was computed from.
"""

import numpy as np
import SimpleITK as sitk

from .. import templates
from ..choices import SKULL_STRIP_METHODS as METHODS
from ..errors import InputError

# The methods (choices.SKULL_STRIP_METHODS): 'hd-bet', HD-BET's network at 2 mm (brain_extraction.py),
# right on raw skull-on scans; 'template', the MNI brain mask carried through the affine and fitted to
# the image's edge: fast, but it keeps scalp that lies close to the brain (docs/preprocessing.md).
# Template mask: grown by this much first, so that brain the affine missed at the edge can be kept...
TEMPLATE_GROW_MM = 2
# ...then, within this distance of its surface, voxels darker than DARK_FRACTION x the median brain
# intensity (CSF, bone, air on FLAIR) are removed.
EDGE_BAND_MM = 6
DARK_FRACTION = 0.45
# Voxels brighter than this multiple of the median brain intensity in the edge band are scalp fat or
# vessels, not cortex (cortical lesions sit well below it after bias correction).
BRIGHT_FRACTION = 2.5


def choose_method(method: str, device=None) -> str:
    """'hd-bet' or 'template' for a requested method ('auto' = HD-BET, on any device)."""
    method = (method or "auto").lower()
    if method not in METHODS:
        raise InputError(f"unknown skull-strip method '{method}': choose one of {', '.join(METHODS)}")
    return "hd-bet" if method == "auto" else method


def _largest_component(mask: sitk.Image) -> sitk.Image:
    components = sitk.RelabelComponent(sitk.ConnectedComponent(mask), sortByObjectSize=True)
    return sitk.Cast(components == 1, sitk.sitkUInt8)


def _radius_voxels(image: sitk.Image, mm: float):
    return [max(1, int(round(mm / s))) for s in image.GetSpacing()]


def carry_template_mask(reference: sitk.Image, mni_to_image: sitk.Transform) -> sitk.Image:
    """The MNI brain mask carried through the affine onto the grid of reference (uint8 0/1)."""
    template_mask = sitk.Cast(templates.mni_brain_mask(), sitk.sitkFloat32)
    carried = sitk.Resample(template_mask, reference, mni_to_image.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    carried = sitk.Cast(carried > 0.5, sitk.sitkUInt8)
    if not np.any(sitk.GetArrayViewFromImage(carried)):
        raise InputError("the brain template does not overlap the image after registration: check that the image shows a head")
    return carried


def bounding_box_region(mask: sitk.Image, margin_mm: float):
    """(index, size) of the box around mask's voxels grown by margin_mm, clipped to the image."""
    statistics = sitk.LabelShapeStatisticsImageFilter()
    statistics.Execute(mask)
    box = statistics.GetBoundingBox(1)
    margin = _radius_voxels(mask, margin_mm)
    start = [max(0, box[i] - margin[i]) for i in range(3)]
    stop = [min(mask.GetSize()[i], box[i] + box[i + 3] + margin[i]) for i in range(3)]
    return start, [stop[i] - start[i] for i in range(3)]


def refine_template_mask(image: sitk.Image, carried: sitk.Image):
    """(brain mask, parameters): the carried template mask fitted to the edge of the brain in image
    (bias-corrected, same grid as carried)."""
    # All the morphology runs on the box around the brain only: the working grid is mostly background.
    start, size = bounding_box_region(carried, 3 * (TEMPLATE_GROW_MM + EDGE_BAND_MM))
    image_box = sitk.RegionOfInterest(image, size, start)
    carried_box = sitk.RegionOfInterest(carried, size, start)
    grown = sitk.BinaryDilate(carried_box, _radius_voxels(image_box, TEMPLATE_GROW_MM))
    inner = sitk.BinaryErode(carried_box, _radius_voxels(image_box, EDGE_BAND_MM))

    values = sitk.GetArrayViewFromImage(image_box)
    inner_values = values[sitk.GetArrayViewFromImage(inner) > 0]
    if inner_values.size == 0:
        inner_values = values[sitk.GetArrayViewFromImage(carried_box) > 0]
    brain_level = float(np.median(inner_values))
    # Only the edge band is judged on intensity: deep dark CSF (ventricles) and bright lesions stay.
    plausible = sitk.And(image_box > DARK_FRACTION * brain_level, image_box < BRIGHT_FRACTION * brain_level)
    mask = sitk.Or(inner, sitk.And(grown, plausible))
    mask = sitk.BinaryMorphologicalOpening(mask, _radius_voxels(image_box, 2))
    mask = _largest_component(mask)
    mask = sitk.BinaryMorphologicalClosing(mask, _radius_voxels(image_box, 2))
    mask = sitk.BinaryFillhole(mask)
    mask = sitk.Resample(sitk.Cast(mask, sitk.sitkUInt8), carried, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    parameters = {
        "method": "template",
        "template_mask": f"{templates.TEMPLATE_NAME} brain, carried through the affine",
        "grow_mm": TEMPLATE_GROW_MM,
        "edge_band_mm": EDGE_BAND_MM,
        "dark_fraction": DARK_FRACTION,
        "bright_fraction": BRIGHT_FRACTION,
    }
    return sitk.Cast(mask, sitk.sitkUInt8), parameters


def template_brain_mask(image: sitk.Image, mni_to_image: sitk.Transform):
    """(brain mask on the grid of image, parameters): the MNI brain mask carried through the affine,
    then fitted to the image's own edge. image should be bias-corrected."""
    return refine_template_mask(image, carry_template_mask(image, mni_to_image))


def mask_from_stripped(image: sitk.Image) -> sitk.Image:
    """Brain mask of an already skull-stripped image: its non-background voxels, largest part, holes filled."""
    values = sitk.GetArrayViewFromImage(image)
    # The background of a stripped image is one constant (usually 0, sometimes the minimum after
    # normalisation): take it from the corners rather than assuming zero.
    corners = values[np.ix_([0, -1], [0, -1], [0, -1])]
    background = float(np.median(corners))
    scale = float(np.max(np.abs(values - background)))
    if scale == 0:
        raise InputError("the skull-stripped image is empty (every voxel equals the background): check the file")
    foreground = sitk.GetImageFromArray((np.abs(values - background) > 1e-3 * scale).astype(np.uint8))
    foreground.CopyInformation(image)
    mask = _largest_component(foreground)
    mask = sitk.BinaryFillhole(mask)
    return sitk.Cast(mask, sitk.sitkUInt8)
