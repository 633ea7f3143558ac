"""benchmarks/lesion_contrast.py: the WMH brightness figures of docs/synthetic_data.md, on a phantom of known levels."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import lesion_contrast  # noqa: E402  (after the path)


def _phantom(lesion_side=6):
    """White matter at 0 (with a little noise), cortex at 0.5, a WMH cube at 2 and a label-2 block at 5 nearby."""
    rng = np.random.default_rng(0)
    shape = (40, 40, 40)
    white = np.zeros(shape, np.float32)
    grey = np.zeros(shape, np.float32)
    white[5:35, 5:35, 5:20] = 1.0
    grey[5:35, 5:35, 22:35] = 1.0
    image = rng.normal(0.0, 0.05, shape).astype(np.float32) + 0.5 * grey
    label = np.zeros(shape, np.uint8)
    label[10:10 + lesion_side, 10:10 + lesion_side, 8:8 + lesion_side] = 1
    image[label == 1] = 2.0
    label[25:30, 25:30, 8:13] = 2
    image[label == 2] = 5.0  # oedema: bright, and must not count as normal white matter
    return image, label, np.ones(shape, np.uint8), white, grey


def test_lesion_contrast_measures_wmh_over_normal_white_matter_and_cortex():
    row = lesion_contrast.case_contrast(*_phantom())
    assert abs(row["nawm"]) < 0.02
    assert abs(row["cortex"] - 0.5) < 0.02
    assert abs(row["excess_median"] - 2.0) < 0.02
    assert abs(row["wmh_over_cortex"] - 1.5) < 0.02
    assert row["wmh_voxels"] == 216
    # 30 x 30 x 15 white matter less the WMH cube (side 6) and the label-2 cube (side 5), each grown by 2 voxels
    # with 6-connected steps: side^3 + 4 * 3 side^2 (faces, 2 layers) + 4 * 3 side (edges, 1 voxel) = 720 and 485
    assert row["nawm_voxels"] == 13500 - 720 - 485


def test_lesion_contrast_skips_cases_with_too_few_wmh_voxels():
    row = lesion_contrast.case_contrast(*_phantom(lesion_side=4))  # 64 voxels, under MIN_WMH_VOXELS
    assert row["wmh_voxels"] == 64
    assert "excess_median" not in row


def test_lesion_contrast_counts_the_cases_below_a_level_and_darker_than_cortex():
    cases = [{"excess_median": m, "excess_p10": m - 1, "wmh_over_cortex": c}
             for m, c in ((2.0, 1.5), (0.3, -0.2), (1.0, 0.4))]
    cases.append({"wmh_voxels": 10})  # too small: not measured
    result = lesion_contrast.summarise(cases, below=(1.39, 0.5))
    assert result["measured"] == 3
    assert result["summary"]["below_level"] == {"1.39": 2, "0.5": 1}
    assert result["summary"]["darker_than_cortex"] == 1
    assert result["summary"]["excess_median"] == {"min": 0.3, "median": 1.0, "max": 2.0}
