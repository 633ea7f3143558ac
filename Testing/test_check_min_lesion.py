"""benchmarks/check_min_lesion.py: the lesion-peak filter and the real-half score of the post-processing sweep."""

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import check_min_lesion  # noqa: E402  (after the path)


def _two_lesions():
    """A mask of two separate lesions and a probability map: one lesion peaks at 0.9, the other at 0.6."""
    probability = np.zeros((10, 20, 20), np.float32)
    probability[2:5, 2:6, 2:6] = 0.55
    probability[3, 3, 3] = 0.9
    probability[5:8, 12:16, 12:16] = 0.55
    probability[6, 13, 13] = 0.6
    probability[9, 19, 19] = 0.95  # a speck the size filter dropped: sure, but outside the mask
    probability_image = sitk.GetImageFromArray(probability)
    probability_image.SetSpacing((0.5, 0.5, 2.0))
    mask = sitk.Cast(probability_image >= 0.5, sitk.sitkUInt8)
    mask[19, 19, 9] = 0
    return mask, probability_image


def test_the_peak_filter_drops_only_the_lesions_that_never_reach_the_peak_and_keeps_the_grid():
    mask, probability = _two_lesions()
    kept = check_min_lesion.drop_unsure_lesions(mask, probability, 0.8)
    array = sitk.GetArrayFromImage(kept)
    assert array[2:5, 2:6, 2:6].all() and not array[5:8, 12:16, 12:16].any()
    assert array.sum() == 3 * 4 * 4  # nothing outside the mask comes back
    assert kept.GetSpacing() == mask.GetSpacing()
    both = sitk.GetArrayFromImage(check_min_lesion.drop_unsure_lesions(mask, probability, 0.6))
    assert (both == sitk.GetArrayFromImage(mask)).all()


def test_the_real_half_score_weighs_the_real_cases_as_much_as_all_synthetic_ones():
    per_case = {"real/a": {"dsc": 1.0, "lesion_f1": 1.0},
                "syn/b": {"dsc": 0.0, "lesion_f1": 0.0}, "syn/c": {"dsc": 0.0, "lesion_f1": 0.0},
                "syn/d": {"dsc": 0.0, "lesion_f1": 0.0}}
    row = check_min_lesion.summarise(per_case, {"real/a"})
    assert row["score"] == pytest.approx(0.25) and row["score_real_half"] == pytest.approx(0.5)
    assert "score_real_half" not in check_min_lesion.summarise(per_case, set())
