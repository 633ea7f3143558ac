"""Reading FLAIRs and labels: geometry kept exactly in every format, every bad input refused in one sentence."""

import os

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.geometry import rotation as _rotation
from RadioWMHSegLib.image_io import read_flair, read_label
from image_files import flair_like as _flair_like
from image_files import oblique_image as _oblique_image
from image_files import write_dicom_series as _write_dicom_series

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _sitk_affine(image):
    """4x4 LPS voxel-to-physical matrix of a SimpleITK image."""
    affine = np.eye(4)
    affine[:3, :3] = np.array(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    affine[:3, 3] = image.GetOrigin()
    return affine


def _assert_same_geometry(read, expected):
    assert read.GetSize() == expected.GetSize()
    np.testing.assert_allclose(read.GetSpacing(), expected.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(read.GetOrigin(), expected.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(read.GetDirection(), expected.GetDirection(), atol=1e-5)


def _refusal(path, match, **kwargs):
    """read_flair must refuse with one sentence (no line breaks) and write nothing next to the input."""
    folder = os.path.dirname(str(path)) if not os.path.isdir(str(path)) else str(path)
    before = sorted(os.listdir(folder)) if os.path.isdir(folder) else None
    with pytest.raises(InputError, match=match) as caught:
        read_flair(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    if before is not None:
        assert sorted(os.listdir(folder)) == before


def test_left_handed_oblique_nifti_keeps_its_affine(tmp_path):
    array_xyz = np.transpose(_flair_like(), (2, 1, 0))
    affine = np.eye(4)
    affine[:3, :3] = _rotation(10, 15, -25) @ np.diag([0.8, 0.9, 2.5]) @ np.diag([-1, 1, 1])
    affine[:3, 3] = (40.0, -12.0, 33.0)
    assert np.linalg.det(affine[:3, :3]) < 0
    path = tmp_path / "oblique.nii.gz"
    nib.save(nib.Nifti1Image(array_xyz, affine), str(path))

    image = read_flair(path)

    assert image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_allclose(_sitk_affine(image), LPS_FROM_RAS @ affine, atol=1e-4)
    assert np.linalg.det(np.array(image.GetDirection()).reshape(3, 3)) < 0
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), np.transpose(array_xyz, (2, 1, 0)))


@pytest.mark.parametrize("ending", [".nrrd", ".mha", ".mhd", ".nii"])
def test_other_formats_keep_geometry_and_values(tmp_path, ending):
    array = (_flair_like() * 10).astype(np.int16)
    original = _oblique_image(array)
    path = tmp_path / f"flair{ending}"
    sitk.WriteImage(original, str(path))

    image = read_flair(path)

    _assert_same_geometry(image, original)
    assert image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array.astype(np.float32))



def test_dicom_series_folder_keeps_geometry(tmp_path):
    array = (_flair_like((6, 16, 20)) * 10).astype(np.int16)
    original = _oblique_image(array, left_handed=False)  # DICOM slices are stacked along the normal
    _write_dicom_series(original, tmp_path / "series")

    image = read_flair(tmp_path / "series")

    _assert_same_geometry(image, original)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array.astype(np.float32))


def test_four_d_needs_a_channel_and_extracts_it(tmp_path):
    volumes = np.stack([_flair_like(seed=1), _flair_like(seed=2) * 3], axis=-1)  # (z, y, x, t) for nibabel order below
    array_xyzt = np.transpose(volumes, (2, 1, 0, 3))
    path = tmp_path / "four_d.nii.gz"
    nib.save(nib.Nifti1Image(array_xyzt, np.diag([1.0, 1.0, 2.0, 1.0])), str(path))

    _refusal(path, "4D with 2 volumes")
    _refusal(path, "channel 2 does not exist", channel=2)
    image = read_flair(path, channel=1)
    assert image.GetDimension() == 3
    np.testing.assert_allclose(image.GetSpacing(), (1.0, 1.0, 2.0))
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), _flair_like(seed=2) * 3, rtol=1e-6)


def test_multi_component_needs_a_channel(tmp_path):
    components = np.stack([_flair_like(seed=3), _flair_like(seed=4)], axis=-1)
    image = sitk.GetImageFromArray(components, isVector=True)
    path = tmp_path / "vector.mha"
    sitk.WriteImage(image, str(path))

    _refusal(path, "2 values per voxel")
    _refusal(path, "channel -1 does not exist", channel=-1)
    np.testing.assert_allclose(sitk.GetArrayFromImage(read_flair(path, channel=1)), _flair_like(seed=4))


def test_missing_empty_unreadable_and_truncated_files_are_refused(tmp_path):
    _refusal(tmp_path / "nothing_here.nii.gz", "does not exist")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    _refusal(tmp_path / "empty.nii.gz", "empty file")
    (tmp_path / "noise.nii.gz").write_bytes(os.urandom(2000))
    _refusal(tmp_path / "noise.nii.gz", "not a readable NIfTI|cannot be read")
    (tmp_path / "noise.mha").write_bytes(os.urandom(2000))
    _refusal(tmp_path / "noise.mha", "cannot be read")

    full = tmp_path / "full.nii.gz"
    nib.save(nib.Nifti1Image(_flair_like(), np.eye(4)), str(full))
    data = full.read_bytes()
    (tmp_path / "truncated.nii.gz").write_bytes(data[: len(data) // 2])
    _refusal(tmp_path / "truncated.nii.gz", "truncated")

    plain = tmp_path / "full.nii"
    nib.save(nib.Nifti1Image(_flair_like(), np.eye(4)), str(plain))
    data = plain.read_bytes()
    (tmp_path / "truncated.nii").write_bytes(data[:-500])
    _refusal(tmp_path / "truncated.nii", "truncated")


def test_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("not an image")
    _refusal(tmp_path / "folder", "no DICOM series")


def test_2d_and_single_slice_images_are_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(_flair_like()[0]), str(tmp_path / "slice.mha"))
    _refusal(tmp_path / "slice.mha", "2D image")
    nib.save(nib.Nifti1Image(_flair_like((1, 16, 20)).T, np.eye(4)), str(tmp_path / "one.nii.gz"))
    _refusal(tmp_path / "one.nii.gz", "single slice")


@pytest.mark.parametrize("case, match", [
    ("constant", "empty"),
    ("zeros", "empty"),
    ("nan", "NaN or infinite"),
    ("inf", "NaN or infinite"),
    ("binary_mask", "looks like a label mask"),
    ("three_labels_float", "looks like a label mask"),
])
def test_bad_contents_are_refused(tmp_path, case, match):
    array = _flair_like()
    if case == "constant":
        array[:] = 7.0
    elif case == "zeros":
        array[:] = 0.0
    elif case == "nan":
        array[3, 4, 5] = np.nan
    elif case == "inf":
        array[0, 0, 0] = np.inf
    elif case == "binary_mask":
        array = (array > 250).astype(np.uint8)
    elif case == "three_labels_float":
        array = np.digitize(array, [230, 260]).astype(np.float32)
    path = tmp_path / f"{case}.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    _refusal(path, match)


def test_integer_flair_with_many_levels_is_accepted(tmp_path):
    array = np.round(_flair_like() - 150).astype(np.uint8)  # like the uint8 clinical export
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "u8.nii.gz"))
    image = read_flair(tmp_path / "u8.nii.gz")
    assert image.GetPixelID() == sitk.sitkFloat32


@pytest.mark.parametrize("spacing, match", [
    ((0.05, 1.0, 1.0), "implausible voxel size"),
    ((1.0, 1.0, 20.0), "implausible voxel size"),
])
def test_implausible_spacing_is_refused(tmp_path, spacing, match):
    image = sitk.GetImageFromArray(_flair_like())
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(tmp_path / "spacing.mha"))
    _refusal(tmp_path / "spacing.mha", match)


@pytest.mark.parametrize("spacing_text", ["1 1 0", "1 1 nan"])
def test_non_positive_spacing_is_refused(tmp_path, spacing_text):
    # SimpleITK will not set such a spacing, so edit a MetaImage header by hand.
    sitk.WriteImage(sitk.GetImageFromArray(_flair_like()), str(tmp_path / "spacing.mhd"))
    header = (tmp_path / "spacing.mhd").read_text(encoding="utf-8")
    header = "\n".join(
        f"ElementSpacing = {spacing_text}" if line.startswith("ElementSpacing") else line for line in header.splitlines()
    )
    (tmp_path / "spacing.mhd").write_text(header + "\n")
    _refusal(tmp_path / "spacing.mhd", "non-positive or invalid voxel size|cannot be read")


def test_read_label_accepts_integer_labels_in_any_type(tmp_path):
    labels = np.zeros((8, 10, 12), dtype=np.float32)
    labels[2:4, 3:6, 4:8] = 1
    labels[5, 5, 5] = 2
    original = _oblique_image(labels)
    sitk.WriteImage(original, str(tmp_path / "label.nii.gz"))

    label = read_label(tmp_path / "label.nii.gz")

    assert label.GetPixelID() == sitk.sitkUInt8
    _assert_same_geometry(label, original)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(label), labels.astype(np.uint8))


@pytest.mark.parametrize("value, match", [(0.5, "non-integer"), (300, "outside 0-255"), (-1, "outside 0-255")])
def test_read_label_refuses_non_label_values(tmp_path, value, match):
    labels = np.zeros((8, 10, 12), dtype=np.float32)
    labels[1, 1, 1] = value
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(tmp_path / "bad_label.nii.gz"))
    with pytest.raises(InputError, match=match):
        read_label(tmp_path / "bad_label.nii.gz")
