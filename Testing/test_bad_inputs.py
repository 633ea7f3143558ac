"""No silent nonsense (issue 11): an input that cannot give a sensible result is refused in one sentence that says what
is wrong, a doubtful one is segmented with a warning that reaches the record and the stats. segment_image is
replaced by a fast stand-in (`fast_segment`, conftest.py) where what a test checks happens before or after it.
"""

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from image_files import flair_like as _flair_like
from image_files import oblique_image as _oblique_image
from image_files import write_dicom_series as _write_dicom_series
from segment_stand_in import assert_one_sentence as _one_sentence
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.image_io import dicom_series_ids, read_flair
from RadioWMHSegLib.segment import segment


# ---------------------------------------------------------------- reading: say what is really wrong

def _nifti_bytes(array_xyz, affine=None):
    return nib.Nifti1Image(array_xyz, np.eye(4) if affine is None else affine).to_bytes()


def test_a_channel_asked_of_a_3d_image_is_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(_flair_like()), str(tmp_path / "f.nii.gz"))
    with pytest.raises(InputError, match="single 3D volume"):
        read_flair(tmp_path / "f.nii.gz", channel=3)


def test_an_uncompressed_nifti_named_nii_gz_is_read(tmp_path):
    array = _flair_like()
    (tmp_path / "plain.nii.gz").write_bytes(_nifti_bytes(array.T))
    np.testing.assert_allclose(sitk.GetArrayFromImage(read_flair(tmp_path / "plain.nii.gz")), array)


def test_a_sheared_nifti_is_called_sheared_not_damaged(tmp_path):
    affine = np.eye(4)
    affine[0, 1] = 0.3
    nib.save(nib.Nifti1Image(_flair_like().T, affine), str(tmp_path / "sheared.nii.gz"))
    with pytest.raises(InputError, match="sheared") as caught:
        read_flair(tmp_path / "sheared.nii.gz")
    assert "damaged" not in str(caught.value)


def test_a_non_orthonormal_mha_is_refused(tmp_path):
    image = sitk.GetImageFromArray(_flair_like())
    image.SetDirection((1, 0.3, 0, 0, 1, 0, 0, 0, 1))
    sitk.WriteImage(image, str(tmp_path / "sheared.mha"))
    with pytest.raises(InputError, match="sheared grid"):
        read_flair(tmp_path / "sheared.mha")


def test_a_nifti_without_geometry_is_read_with_a_warning(tmp_path):
    data = bytearray(_nifti_bytes(_flair_like().T))
    # pixdim[1..3] = 0 (bytes 80-91), qform_code = sform_code = 0 (bytes 252-255): the geometry is gone.
    data[80:92] = np.zeros(3, dtype="<f4").tobytes()
    data[252:256] = np.zeros(2, dtype="<i2").tobytes()
    (tmp_path / "bare.nii").write_bytes(bytes(data))
    warnings = []
    read_flair(tmp_path / "bare.nii", warnings=warnings)
    assert any("no orientation" in w for w in warnings), warnings
    assert any("no voxel size" in w for w in warnings), warnings


@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_a_dicom_series_with_a_missing_slice_is_read_with_a_warning(tmp_path, damage):
    original = _oblique_image((_flair_like((12, 16, 20)) * 10).astype(np.int16), left_handed=False)
    _write_dicom_series(original, tmp_path / "series")
    victim = tmp_path / "series" / "slice_005.dcm"
    if damage == "missing":
        victim.unlink()
    else:
        victim.write_bytes(victim.read_bytes()[:200])
    warnings = []
    read_flair(tmp_path / "series", warnings=warnings)
    assert any("unevenly spaced" in w for w in warnings), warnings
    complete = tmp_path / "complete"
    _write_dicom_series(original, complete)
    warnings = []
    read_flair(complete, warnings=warnings)
    assert warnings == []


def test_looking_for_dicom_in_a_folder_prints_nothing(tmp_path, capfd):
    (tmp_path / "notes.txt").write_text("no images here")
    assert dicom_series_ids(tmp_path) == ()
    assert "No Series" not in capfd.readouterr().err


# ---------------------------------------------------------------- content: refuse or warn

def _image(array, spacing=(1.0, 1.0, 1.0)):
    image = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
    image.SetSpacing(spacing)
    return image


@pytest.mark.parametrize("case, match", [
    ("tiny", "covers only 5 x 5 x 5 mm"),
    ("negative", "no positive voxel"),
    ("eleven_values", "only 11 distinct values"),
])
def test_images_nothing_sensible_can_come_from_are_refused(case, match, head):
    from RadioWMHSegLib.input_checks import check_segmentable

    rng = np.random.default_rng(0)
    image = {"tiny": lambda: _image(100 + rng.random((5, 5, 5))),
             "negative": lambda: head - 2000.0,
             "eleven_values": lambda: _image(rng.integers(0, 11, (64, 64, 64)) * 37.5 + 3.3)}[case]()
    with pytest.raises(InputError, match=match) as caught:
        check_segmentable(image, "'x'")
    _one_sentence(str(caught.value))


@pytest.mark.parametrize("case, match", [
    ("noise", "does not look like a head"),
    ("inverted", "does not look like a head"),
    ("slab", "covers only 168 x 192 x 42 mm"),
    ("coarse", "coarse voxels"),
    ("forty_levels", "distinct grey levels (a FLAIR has hundreds)"),
])
def test_doubtful_images_carry_a_warning(case, match, head):
    from RadioWMHSegLib.input_checks import check_segmentable

    rng = np.random.default_rng(0)
    array = sitk.GetArrayFromImage(head)
    image = {
        "noise": lambda: _image(rng.random((96, 96, 96)) * 1000, (2.0, 2.0, 2.0)),
        "inverted": lambda: sitk.Cast(float(array.max()) - head, sitk.sitkFloat32),
        "slab": lambda: head[:, :, 30:46],
        "coarse": lambda: sitk.Resample(head, [18, 20, 17], sitk.Transform(), sitk.sitkLinear, head.GetOrigin(),
                                        [10.0] * 3, head.GetDirection()),
        "forty_levels": lambda: sitk.Cast(sitk.Round(head / float(array.max()) * 39), sitk.sitkFloat32),
    }[case]()
    warnings = check_segmentable(image, "'x'")
    assert any(match in w for w in warnings), warnings


def test_a_plain_head_has_no_warning(head):
    from RadioWMHSegLib.input_checks import check_segmentable

    assert check_segmentable(head, "'x'") == []


def test_a_t1_like_contrast_is_flagged_and_a_flair_is_not():
    from phantoms import flair_like_template
    from RadioWMHSegLib import templates
    from RadioWMHSegLib.input_checks import check_contrast

    brain = templates.mni_brain_mask()
    gm = sitk.GetArrayFromImage(templates.mni_tissue("gm"))
    wm = sitk.GetArrayFromImage(templates.mni_tissue("wm"))
    inside = sitk.GetArrayFromImage(brain) > 0
    t1 = sitk.GetImageFromArray(((200 * gm + 300 * wm + 60 * np.clip(1 - gm - wm, 0, 1)) * inside).astype(np.float32))
    t1.CopyInformation(brain)
    # At 2 mm (as fast as a test should be; the check reads the same at 1 mm).
    brain2, t1_2, flair_2 = (sitk.BinShrink(i, [2, 2, 2]) for i in (sitk.Cast(brain, sitk.sitkFloat32), t1,
                                                                     flair_like_template()))
    brain2 = sitk.Cast(brain2 > 0.5, sitk.sitkUInt8)
    assert any("does not look like FLAIR" in w for w in check_contrast(t1_2, brain2))
    assert check_contrast(flair_2, brain2) == []


def test_warnings_reach_the_record_and_the_stats_beside_those_of_segment_image(tmp_path, head, fast_segment):
    slab = tmp_path / "slab.nii.gz"
    sitk.WriteImage(head[:, :, 24:46], str(slab))
    result = segment(slab, tmp_path / "wmh.nii.gz", stats=tmp_path / "s.json")
    quality = result.record["quality"]
    assert quality["brain_volume_ml"] == 1234.0  # what segment_image put there is kept
    assert quality["warnings"][0] == "a warning of segment_image"
    assert any("covers only" in w for w in quality["warnings"][1:])
    saved = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert saved["processing"]["quality"]["warnings"] == quality["warnings"]


@pytest.mark.parametrize("case", ["tiny", "negative"])
def test_the_command_line_refuses_in_one_line_without_a_traceback(tmp_path, head, case):
    image = _image(100 + np.random.default_rng(0).random((5, 5, 5))) if case == "tiny" else head - 2000.0
    sitk.WriteImage(image, str(tmp_path / "in.nii.gz"))
    out = subprocess.run([sys.executable, "-m", "RadioWMHSegLib", "segment", str(tmp_path / "in.nii.gz"),
                          "-o", str(tmp_path / "wmh.nii.gz")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "wmh.nii.gz").exists()
