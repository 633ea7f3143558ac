"""A warning when the WMH mask probably leaves out much of the WMH: more white matter just under the threshold
than WMH marked.

The bundled model misses most of extensive or faint confluent WMH while what it marks is right (precision
0.8-0.96, sensitivity 0.09-0.4 on such synthetic cases: experiments/synthetic_ceiling/), so the volume it reports
is far too low with no sign of doubt. Where it misses, P(WMH) is often raised without reaching the threshold.
The rule (experiments/underseg_warning/RULE.md, second rule: set on validation cases, checked on fresh held-out
ones): warn when at least MIN_FOUND_ML of WMH is found and the borderline tissue (inside the brain, outside the
mask, P(WMH) in [BORDERLINE_P, threshold)) that lies in white matter is larger than it.
- Only white matter counts: where the model over-calls bright cortex, the tissue around its false calls is
  borderline too, and a warning that the volume may be too low would mislead there (the first rule's failure).
- The floor: on scans with little WMH, partial volumes and normal periventricular caps outweigh a few small
  lesions (three real scans with 1.5-3.5 mL found) without anything being missed that the rule is about.
It is meant to be right when it speaks, not to catch every case: over 61 synthetic cases with truth it fired on
9 (sensitivity 0.07-0.31), on none with sensitivity 0.35 or more, and stayed silent on 7 of the 15 under 0.3;
never on the nine real scans of ../shared/data, the README sample or the dev case.
"""

import functools

import numpy as np
import SimpleITK as sitk

BORDERLINE_P = 0.2
MIN_FOUND_ML = 10.0
WHITE_MATTER_P = 0.5  # MNI152 white-matter probability from which a voxel counts as white matter


@functools.lru_cache(maxsize=1)
def white_matter_on_crop() -> np.ndarray:
    """The MNI152 white-matter probability on the network's crop grid (z, y, x), loaded once."""
    from .templates import mni_tissue, to_crop_grid

    return sitk.GetArrayFromImage(to_crop_grid(mni_tissue("wm")))


def borderline_white_matter_ml(probability: sitk.Image, mask: sitk.Image, brain_mask: sitk.Image,
                               white_matter: sitk.Image, threshold: float) -> float:
    """Volume (mL) inside the brain, outside the WMH mask, in white matter (probability >= WHITE_MATTER_P), where
    BORDERLINE_P <= P(WMH) < threshold. Every image on the same grid."""
    p = sitk.GetArrayViewFromImage(probability)
    where = ((sitk.GetArrayViewFromImage(brain_mask) > 0) & (sitk.GetArrayViewFromImage(mask) == 0)
             & (sitk.GetArrayViewFromImage(white_matter) >= WHITE_MATTER_P))
    borderline = where & (p >= BORDERLINE_P) & (p < threshold)
    return float(np.count_nonzero(borderline)) * float(np.prod(probability.GetSpacing())) / 1000.0


def undercall_warning(found_ml: float, borderline_ml: float):
    """The warning's sentence, or None when the rule does not fire."""
    if found_ml < MIN_FOUND_ML or borderline_ml <= found_ml:
        return None
    return (f"{borderline_ml:.1f} mL of white matter has a WMH probability just under the threshold, more than the "
            f"{found_ml:.1f} mL marked: extensive or faint confluent WMH may be only partly marked, so the WMH volume "
            "may be too low. Look at the probability map (--prob, or 'Probability map' in Slicer) or the uncertainty, "
            "and correct the mask in the Segment Editor or try a lower threshold")
