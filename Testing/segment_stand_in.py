"""A stand-in for segment_image and a small head, for the tests of what happens before and after the network
(outputs, bad inputs, cohort reruns): the real pipeline would take minutes and say nothing more there.
The fixtures over them (`head`, `flair`, `fast_segment`, `no_work`) are in conftest.py."""

import numpy as np
import SimpleITK as sitk

from phantoms import native_grid, phantom_with_blob
from RadioWMHSegLib.segment import SegmentationResult


def small_head():
    """A small head-like FLAIR (168 x 192 x 166 mm at 2.4-2.6 mm) that passes every input check."""
    image, _ = phantom_with_blob(native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6)))
    return image


def fake_segment_image(image, *, model=None, threshold=0.5, min_lesion_mm3=3.0, **_):
    """segment_image's contract in a few milliseconds: probability = rescaled intensity."""
    from RadioWMHSegLib.lesion_stats import compute_lesion_stats

    array = sitk.GetArrayFromImage(image).astype(np.float32)
    probability = sitk.GetImageFromArray((array - array.min()) / (array.max() - array.min()))
    probability.CopyInformation(image)
    mask = sitk.Cast(probability >= threshold, sitk.sitkUInt8)
    card = getattr(model, "card", None) or {"name": "fake", "weights_sha256": "0" * 64}
    record = {"stages": [], "device": "cpu", "seconds": 0.0, "model": {"name": card.get("name")},
              "quality": {"brain_volume_ml": 1234.0, "warnings": ["a warning of segment_image"]}}
    return SegmentationResult(mask=mask, probability=probability, brain_mask=sitk.Cast(image > 0, sitk.sitkUInt8),
                              stats=compute_lesion_stats(mask, min_lesion_mm3), record=record, model_card=card)


def assert_one_sentence(message):
    """An error a user reads: one line, no traceback, short."""
    assert "\n" not in message and "Traceback" not in message and len(message) < 500, message
