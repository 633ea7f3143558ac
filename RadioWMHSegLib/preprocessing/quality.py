"""Plausibility checks of a preprocessed case, so a user knows when not to trust the result.

Three numbers a neuroradiologist would look at first, each with a warning where it is implausible:
- the brain volume (mL) of the brain mask on the input grid;
- the registration's linear scale (cube root of the affine's determinant, native / MNI): the
  template brain is larger than most adult brains, so real brains give about 0.8-0.95; a scale near
  or above 1.1 means the template brain was matched to more than the brain (skull, scalp);
- the sides of the field of view that cut through the brain: a scan that does not cover the brain.
The thresholds were calibrated on the raw and skull-stripped real scans of ../shared/data
(docs/preprocessing.md): silent on every good case there, firing on the failures.
"""

import numpy as np
import SimpleITK as sitk

from ..lesion_stats import mask_volume_ml

# An adult brain (cerebrum, cerebellum, brainstem) lies well within this range (mL).
BRAIN_VOLUME_ML = (800.0, 2000.0)
# Linear scale native / MNI152 2009c template of the registration.
REGISTRATION_SCALE = (0.72, 1.1)
# A side of the field of view cuts the brain when the brain's section on the outermost slice of that
# side covers at least this area (mm^2): the vertex or the cerebellum's tip touching it is not a cut.
CUT_SECTION_MM2 = 1500.0
# The brain may run out of the top and bottom of a thick-slice slab; more cut sides than this means
# the scan misses part of the brain in-plane (or the mask is wrong).
MAX_CUT_SIDES = 2


def cut_sides(brain_mask: sitk.Image) -> list:
    """Names of the grid's sides ('i-', 'i+', 'j-', ...) whose outermost slice holds a large brain section."""
    array = sitk.GetArrayViewFromImage(brain_mask) > 0  # (k, j, i)
    spacing = brain_mask.GetSpacing()  # (i, j, k)
    names = []
    for axis_zyx, axis_name in ((2, "i"), (1, "j"), (0, "k")):
        in_plane = [spacing[a] for a in (0, 1, 2) if a != 2 - axis_zyx]
        voxel_area = float(in_plane[0] * in_plane[1])
        for end, sign in ((0, "-"), (-1, "+")):
            section = np.take(array, end, axis=axis_zyx)
            if float(section.sum()) * voxel_area >= CUT_SECTION_MM2:
                names.append(axis_name + sign)
    return names


def registration_scale(mni_to_native: sitk.Transform) -> float:
    """Linear scale (cube root of the determinant) of the MNI-to-native affine."""
    matrix = np.array(mni_to_native.GetMatrix()).reshape(3, 3) if hasattr(mni_to_native, "GetMatrix") else np.eye(3)
    return float(np.cbrt(np.linalg.det(matrix)))


def assess(brain_mask_native: sitk.Image, mni_to_native: sitk.Transform, skull_stripped: bool = False) -> dict:
    """{"brain_volume_ml", "registration_scale", "cut_sides", "warnings": [one sentence each]}."""
    volume = mask_volume_ml(brain_mask_native)
    scale = registration_scale(mni_to_native)
    sides = cut_sides(brain_mask_native)
    warnings = []
    if not BRAIN_VOLUME_ML[0] <= volume <= BRAIN_VOLUME_ML[1]:
        what = "too small: the scan may not cover the whole brain, or the brain extraction missed part of it" \
            if volume < BRAIN_VOLUME_ML[0] else "too large: the brain mask may include skull, scalp or neck"
        warnings.append(f"brain volume {volume:.0f} mL is outside {BRAIN_VOLUME_ML[0]:.0f}-{BRAIN_VOLUME_ML[1]:.0f} mL, "
                        f"{what}; check the brain mask (--brain-mask) before trusting the WMH volume")
    if not REGISTRATION_SCALE[0] <= scale <= REGISTRATION_SCALE[1]:
        hint = "skull-strip the image first and pass --skull-stripped" if not skull_stripped else "check the image"
        warnings.append(f"registration to MNI scaled the template by {scale:.2f} (expected {REGISTRATION_SCALE[0]}-"
                        f"{REGISTRATION_SCALE[1]} for an adult brain): the alignment may be wrong; check the brain "
                        f"mask and the WMH mask, or {hint}")
    if len(sides) > MAX_CUT_SIDES:
        warnings.append(f"the brain runs out of the field of view on {len(sides)} sides ({', '.join(sides)}): part of "
                        "the brain is not in the scan, so WMH there cannot be found; the volume is a lower bound")
    return {"brain_volume_ml": round(volume, 1), "registration_scale": round(scale, 3), "cut_sides": sides,
            "warnings": warnings}
