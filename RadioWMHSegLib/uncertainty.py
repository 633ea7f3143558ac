"""The per-case uncertainty score: how much of a case the test-time flips disagree on (docs/uncertainty.md).

The voxel-wise uncertainty (inference.predict with uncertainty=True) is the standard deviation of
P(WMH) over the 4 flip passes, mapped to the input grid and 0 outside the brain. Per case:

- `uncertain_volume_ml`: volume of the voxels whose uncertainty is at least `level`
  (UNCERTAIN_LEVEL: the passes differ by about 0.2 in probability or more);
- `uncertain_fraction`: that volume over the volume of the voxels that are predicted WMH or
  uncertain (the share of what the model calls, or nearly calls, WMH that it is unsure of; 0 when
  there is neither);
- `mean_in_wmh`: mean uncertainty over the predicted WMH mask (0 when the mask is empty).

Cases are ranked (ranking.py) by `uncertain_volume_ml` by default: the tissue an annotator has to decide on;
choices.UNCERTAINTY_SCORES lists the scores `radiowmhseg rank --by` accepts.
"""

import numpy as np
import SimpleITK as sitk

MEASURE = "standard deviation of P(WMH) over the 4 test-time flips"
UNCERTAIN_LEVEL = 0.1


def summarise(uncertainty: sitk.Image, mask: sitk.Image, level: float = UNCERTAIN_LEVEL) -> dict:
    """The case's score from its uncertainty map and its WMH mask, both on the input grid."""
    spread = sitk.GetArrayViewFromImage(uncertainty)
    wmh = sitk.GetArrayViewFromImage(mask) > 0
    if spread.shape != wmh.shape:
        raise ValueError(f"uncertainty {spread.shape} and mask {wmh.shape} are not on the same grid")
    voxel_ml = float(np.prod(uncertainty.GetSpacing())) / 1000.0
    uncertain = spread >= level
    candidates = int(np.count_nonzero(uncertain | wmh))
    n_uncertain = int(np.count_nonzero(uncertain))
    return {
        "measure": MEASURE,
        "level": float(level),
        "uncertain_volume_ml": round(n_uncertain * voxel_ml, 4),
        "uncertain_fraction": round(n_uncertain / candidates, 4) if candidates else 0.0,
        "mean_in_wmh": round(float(spread[wmh].mean()), 4) if wmh.any() else 0.0,
    }
