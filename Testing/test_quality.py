"""Plausibility checks of a case (brain volume, registration scale, brain cut by the field of view),
and brain extraction on real raw scans: the warnings must fire on failures and stay silent on good cases."""

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.preprocessing import quality


def _ellipsoid_mask(radii_mm, size=(180, 210, 170), spacing=(1.0, 1.0, 1.0), centre_shift=(0, 0, 0)):
    """A brain-like ellipsoid (uint8) on a grid; its volume is 4/3 pi abc."""
    z, y, x = np.indices(size[::-1], dtype=np.float32)
    centre = [(s - 1) / 2 + c for s, c in zip(size[::-1], centre_shift[::-1])]
    a, b, c = radii_mm
    inside = (((x - centre[2]) * spacing[0] / a) ** 2 + ((y - centre[1]) * spacing[1] / b) ** 2
              + ((z - centre[0]) * spacing[2] / c) ** 2) <= 1.0
    image = sitk.GetImageFromArray(inside.astype(np.uint8))
    image.SetSpacing(spacing)
    return image


def _scaled(scale):
    transform = sitk.AffineTransform(3)
    transform.SetMatrix((np.eye(3) * scale).ravel().tolist())
    return transform


def test_a_normal_brain_raises_no_warning():
    brain = _ellipsoid_mask((65, 80, 55))  # about 1200 mL
    result = quality.assess(brain, _scaled(0.9))
    assert 1150 < result["brain_volume_ml"] < 1250
    assert result["registration_scale"] == pytest.approx(0.9, abs=1e-3)
    assert result["cut_sides"] == [] and result["warnings"] == []


def test_a_small_brain_mask_is_warned_about():
    result = quality.assess(_ellipsoid_mask((40, 50, 40)), _scaled(0.9))  # about 335 mL
    assert len(result["warnings"]) == 1 and "too small" in result["warnings"][0]


def test_a_whole_head_registration_scale_is_warned_about():
    # The determinant of a 1.48 linear scale is 3.2: the scale is reported linearly.
    result = quality.assess(_ellipsoid_mask((65, 80, 55)), _scaled(1.48))
    assert len(result["warnings"]) == 1 and "1.48" in result["warnings"][0]


def test_a_thick_slab_cutting_top_and_bottom_is_accepted_but_four_cut_sides_are_not():
    slab = _ellipsoid_mask((65, 80, 55), size=(180, 210, 80))  # brain runs out at both ends in z
    assert sorted(quality.cut_sides(slab)) == ["k+", "k-"]
    assert not [w for w in quality.assess(slab, _scaled(0.9))["warnings"] if "field of view" in w]
    partial = _ellipsoid_mask((65, 80, 55), size=(100, 120, 80))
    result = quality.assess(partial, _scaled(0.9))
    assert len(result["cut_sides"]) >= 4
    assert any("field of view" in w for w in result["warnings"])


# ------------------------------------------------------------------ real raw scans (development machines)

def _raw_sim_vent_case(shared_data):
    folder = sorted((shared_data / "sim_vent_wmh").glob("case_*"))[0]
    return folder / "FLAIR.nii.gz", folder / "brain_mask.nii.gz"


@pytest.mark.slow
def test_hdbet_brain_extraction_on_a_raw_clinical_2d_flair(shared_data):
    """The default brain mask on a raw 2D FLAIR (skull, eyes on; 6.5 mm slices) holds the dataset's
    own tight brain mask and no scalp: its volume is a brain's, and no warning fires."""
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.preprocessing import preprocess

    flair, dataset_brain = _raw_sim_vent_case(shared_data)
    image = read_flair(flair)
    case = preprocess(image, device="cpu")
    assert case.quality["warnings"] == []
    assert 1100 < case.quality["brain_volume_ml"] < 1800
    assert 0.75 < case.quality["registration_scale"] < 1.0
    ours = sitk.GetArrayFromImage(case.brain_mask_native) > 0
    theirs = sitk.GetArrayFromImage(read_label(dataset_brain)) > 0
    assert (ours & theirs).sum() / theirs.sum() > 0.97  # their tight mask lies inside ours
    # No scalp: skull and scalp are a good fifth of the head's volume (a mask that kept them, as the
    # template method did on this scan, covers nearly the whole head).
    from RadioWMHSegLib.preprocessing.bias_field import head_mask

    head = sitk.GetArrayFromImage(head_mask(image)) > 0
    assert ours.sum() / head.sum() < 0.8
