"""`preprocess()`: from a FLAIR on any grid to the network's normalised MNI crop, and back.

Stages, each recorded with its parameters and time:
1. reorient/resample the input to an axis-aligned 1 mm working image W (same physical space);
2. brain mask on W: HD-BET at 2 mm (default), or the foreground of an image already skull-stripped;
3. affine registration of the brain alone to the MNI152 template brain (skull, eyes and neck cannot
   pull it; skipped for images already in MNI space); the 'template' method registers the whole
   head instead and carries the template's brain mask back;
4. N4 bias-field correction fitted inside the brain (on a box around it, shrunk 4x);
5. for the template method, the mask is fitted to the brain's edge on the corrected image;
6. one resample of the corrected W (and the mask) into the MNI crop grid, then normalisation;
7. plausibility checks (quality.py): brain volume, registration scale, brain cut by the field of view.

Everything in MNI space goes back to the input grid through one resample with the inverse affine
(`to_native`), because W shares the input's physical space.
"""

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .. import templates
from ..errors import InputError
from . import quality, skull_strip
from .bias_field import correct_bias_field
from .brain_extraction import hdbet_brain_mask
from .crop import crop_and_normalise
from .crop import resample_mask as _resample_mask
from .registration import register_to_mni
from .reorient_resample import WORKING_SPACING_MM, reorient_resample

log = logging.getLogger(__name__)

# Margin kept around the brain when the working image is cut down to it before N4 and the mask fit.
BRAIN_BOX_MARGIN_MM = 12


@dataclass
class PreprocessedCase:
    network_input: np.ndarray           # float32 (z, y, x) on templates.crop_grid(), 0 outside the brain
    brain_mask_crop: np.ndarray         # uint8 (z, y, x) on the crop grid
    brain_mask_native: sitk.Image       # uint8 on the input grid
    mni_to_native: sitk.Transform       # MNI physical point -> input physical point
    record: list = field(default_factory=list)  # [{"stage", "parameters", "seconds"}]
    native_reference: sitk.Image = None  # empty image with the input's exact geometry
    quality: dict = field(default_factory=dict)  # brain volume, registration scale, warnings (quality.py)

    def to_native(self, crop_array: np.ndarray, interpolator=sitk.sitkLinear) -> sitk.Image:
        """A crop-grid array (e.g. a probability or a mask) resampled onto the input grid, in one step."""
        crop_array = np.asarray(crop_array)
        if crop_array.shape != templates.crop_shape_zyx():
            raise ValueError(f"expected an array of the crop shape {templates.crop_shape_zyx()}, got {crop_array.shape}")
        if crop_array.dtype == bool:
            crop_array = crop_array.astype(np.uint8)
        crop_image = sitk.GetImageFromArray(np.ascontiguousarray(crop_array))
        crop_image.CopyInformation(templates.crop_grid())
        native_to_mni = self.mni_to_native.GetInverse()
        return sitk.Resample(crop_image, self.native_reference, native_to_mni, interpolator, 0.0,
                             crop_image.GetPixelID())

    def label_to_crop(self, label_native: sitk.Image) -> np.ndarray:
        """A label image on the input grid (or any grid in the input's physical space) as a uint8 crop array."""
        return label_on_crop(label_native, self.mni_to_native)


def label_on_crop(label: sitk.Image, mni_to_native: sitk.Transform) -> np.ndarray:
    """A label in the input's physical space as a uint8 crop array (nearest neighbour); the training cache
    calls it with an affine it stored, without the rest of a PreprocessedCase."""
    on_crop = sitk.Resample(sitk.Cast(label, sitk.sitkUInt8), templates.crop_grid(), mni_to_native,
                            sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(on_crop)


def _geometry_reference(image: sitk.Image) -> sitk.Image:
    """An empty uint8 image with image's size, origin, spacing and direction (keeps no voxel data)."""
    reference = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    reference.CopyInformation(image)
    return reference


def _check_input(image):
    if not isinstance(image, sitk.Image):
        raise InputError("preprocess() needs a SimpleITK image: read the file with image_io.read_flair first")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("preprocess() needs a 3D single-channel image: read it with image_io.read_flair (choose a channel)")


def _require_brain(mask: sitk.Image):
    if not np.any(sitk.GetArrayViewFromImage(mask)):
        raise InputError("no brain was found in the image (the brain mask is empty): check that the image is a head FLAIR")


def _crop_to_box(image: sitk.Image, mask: sitk.Image, margin_mm: float):
    start, size = skull_strip.bounding_box_region(mask, margin_mm)
    return sitk.RegionOfInterest(image, size, start), sitk.RegionOfInterest(mask, size, start)


class _Recorder:
    """Times each stage and reports progress; the record ends up in PreprocessedCase.record."""

    def __init__(self, progress):
        self.entries = []
        self.progress = progress

    def run(self, stage, fraction, message, function, *args, **kwargs):
        if self.progress is not None:
            self.progress(fraction, message)
        start = time.perf_counter()
        result, parameters = function(*args, **kwargs)
        self.entries.append({"stage": stage, "parameters": parameters,
                             "seconds": round(time.perf_counter() - start, 3)})
        return result


def preprocess(image: sitk.Image, *, skull_stripped: bool = False, skull_strip_method: str = "auto",
               in_mni_space: bool = False, device="auto", progress=None) -> PreprocessedCase:
    """Bring a FLAIR (float image from image_io.read_flair) to the network's normalised MNI crop."""
    _check_input(image)
    method = compute_device = None
    if not skull_stripped:
        # Resolve the method (and refuse an unknown one) before any work is done.
        from ..device import resolve_device

        compute_device = resolve_device(device)
        method = skull_strip.choose_method(skull_strip_method, compute_device)
    recorder = _Recorder(progress)
    native_reference = _geometry_reference(image)

    working = recorder.run(
        "reorient_resample", 0.0, "resampling to 1 mm",
        lambda: (reorient_resample(image, WORKING_SPACING_MM),
                 {"spacing_mm": WORKING_SPACING_MM, "orientation": "LPS, axis-aligned",
                  "interpolator": "linear", "input_size": list(image.GetSize()),
                  "input_spacing": [round(s, 4) for s in image.GetSpacing()]}),
    )

    # The brain mask comes first where it can: registering the brain alone to the template brain is
    # what keeps a skull, a neck or a thick bright scalp from stretching the affine.
    working_mask = None
    if skull_stripped:
        native_mask = recorder.run(
            "skull_strip", 0.1, "brain mask of the skull-stripped input",
            lambda: (skull_strip.mask_from_stripped(image), {"method": "already skull-stripped (input foreground)"}),
        )
        working_mask = _resample_mask(native_mask, working)
    elif method == "hd-bet":
        working_mask = recorder.run("skull_strip", 0.1, "brain extraction (HD-BET)",
                                    hdbet_brain_mask, working, compute_device)
    if working_mask is not None:
        _require_brain(working_mask)

    if in_mni_space:
        mni_to_native = sitk.AffineTransform(3)
        recorder.entries.append({"stage": "registration", "parameters": {"skipped": "input already in MNI space"},
                                 "seconds": 0.0})
    else:
        moving = working if working_mask is None else sitk.Mask(working, working_mask)
        mni_to_native = recorder.run("registration", 0.35, "registering to MNI", register_to_mni, moving)

    if working_mask is None:
        working_mask = recorder.run(
            "skull_strip", 0.45, "carrying the template brain mask",
            lambda: (skull_strip.carry_template_mask(working, mni_to_native),
                     {"method": "template", "step": "template brain mask carried through the affine"}),
        )
    _require_brain(working_mask)

    working_box, mask_box = _crop_to_box(working, working_mask, BRAIN_BOX_MARGIN_MM)
    corrected = recorder.run("bias_field", 0.5, "bias-field correction (N4)", correct_bias_field, working_box, mask_box)

    if method == "template":
        mask_box = recorder.run("skull_strip_refine", 0.75, "fitting the brain mask to the image",
                                skull_strip.refine_template_mask, corrected, mask_box)

    if progress is not None:
        progress(0.85, "resampling to the MNI crop")
    start = time.perf_counter()
    network_input, brain_mask_crop = crop_and_normalise(corrected, mask_box, mni_to_native)
    if skull_stripped:
        brain_mask_native = native_mask
    else:
        brain_mask_native = _resample_mask(mask_box, native_reference)
    case_quality = quality.assess(brain_mask_native, mni_to_native, skull_stripped=skull_stripped)
    for warning in case_quality["warnings"]:
        log.warning(warning)
    recorder.entries.append({"stage": "crop_normalise",
                             "parameters": {"grid": f"{templates.TEMPLATE_NAME} crop {list(templates.CROP_SIZE)}",
                                            "interpolator": "linear", "normalisation": "(x - median) / (IQR / 1.349) in the brain, "
                                            "clipped to +-12, 0 outside"},
                             "seconds": round(time.perf_counter() - start, 3)})
    if progress is not None:
        progress(1.0, "preprocessing done")
    return PreprocessedCase(
        network_input=network_input,
        brain_mask_crop=brain_mask_crop.astype(np.uint8),
        brain_mask_native=brain_mask_native,
        mni_to_native=mni_to_native,
        record=recorder.entries,
        native_reference=native_reference,
        quality=case_quality,
    )
