"""Preprocessing, stage by stage on small synthetic volumes, and the exact mapping of a crop back to the native
grid. The whole pipeline: test_preprocessing_pipeline.py."""

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib import templates
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.preprocessing import PreprocessedCase, mask_from_stripped, normalise_intensity
from RadioWMHSegLib.preprocessing.bias_field import correct_bias_field
from RadioWMHSegLib.preprocessing.intensity import CLIP_SIGMA
from RadioWMHSegLib.preprocessing.reorient_resample import reorient_resample
from RadioWMHSegLib.preprocessing.skull_strip import choose_method
from phantoms import known_mni_to_native as _known_mni_to_native
from phantoms import left_handed_oblique_direction as _left_handed_oblique_direction
from phantoms import corners as _corners
from phantoms import native_grid_for as _native_grid_for
from phantoms import physical_centroid as _physical_centroid


# ---------------------------------------------------------------- intensity

def _brain_like(seed=0, shape=(40, 48, 40)):
    rng = np.random.default_rng(seed)
    array = rng.normal(100.0, 12.0, shape).astype(np.float32)
    mask = np.zeros(shape, dtype=np.uint8)
    mask[5:-5, 6:-6, 5:-5] = 1
    array[mask == 0] = rng.normal(5.0, 2.0, (mask == 0).sum())
    return array, mask


def test_normalise_intensity_centres_and_scales_inside_the_brain_only():
    array, mask = _brain_like()
    normalised = normalise_intensity(array, mask)
    assert normalised.dtype == np.float32
    assert np.all(normalised[mask == 0] == 0)
    inside = normalised[mask > 0]
    assert abs(np.median(inside)) < 1e-3
    q25, q75 = np.percentile(inside, [25, 75])
    assert (q75 - q25) == pytest.approx(1.349, rel=1e-3)
    # Normally distributed tissue ends up close to unit standard deviation.
    assert inside.std() == pytest.approx(1.0, abs=0.05)


def test_normalise_intensity_ignores_scale_offset_and_voxel_order():
    array, mask = _brain_like(seed=1)
    reference = normalise_intensity(array, mask)
    np.testing.assert_allclose(normalise_intensity(3.5 * array + 40.0, mask), reference, atol=1e-4)
    order = np.random.default_rng(2).permutation(array.size)
    shuffled = normalise_intensity(array.ravel()[order].reshape(array.shape), mask.ravel()[order].reshape(mask.shape))
    np.testing.assert_allclose(shuffled.ravel(), reference.ravel()[order], atol=1e-6)
    np.testing.assert_array_equal(normalise_intensity(array, mask), reference)  # deterministic


def test_normalise_intensity_is_robust_to_lesions_and_outliers():
    array, mask = _brain_like(seed=3)
    reference = normalise_intensity(array, mask)
    with_lesions = array.copy()
    brain_voxels = np.flatnonzero(mask)
    lesion_voxels = np.random.default_rng(4).choice(brain_voxels, size=brain_voxels.size * 3 // 100, replace=False)
    with_lesions.ravel()[lesion_voxels] = 180.0  # 3% of the brain, bright
    with_lesions.ravel()[brain_voxels[:20]] = 1e6  # a few wild outliers
    changed = normalise_intensity(with_lesions, mask)
    normal_tissue = np.ones(array.size, dtype=bool)
    normal_tissue[lesion_voxels] = False
    normal_tissue[brain_voxels[:20]] = False
    normal_tissue &= mask.ravel() > 0
    shift = np.abs(changed.ravel()[normal_tissue] - reference.ravel()[normal_tissue])
    # A mean/std normalisation would move normal tissue by ~0.7 standard deviations here.
    assert shift.mean() < 0.1 and shift.max() < 0.25
    assert changed.max() <= CLIP_SIGMA  # outliers clipped
    assert changed.ravel()[lesion_voxels].mean() > 4  # lesions stay bright


def test_normalise_intensity_refuses_an_empty_brain_mask():
    array, mask = _brain_like()
    with pytest.raises(InputError, match="brain mask"):
        normalise_intensity(array, np.zeros_like(mask))


# ---------------------------------------------------------------- reorient / resample

def test_axis_aligned_1mm_input_is_reordered_without_interpolation():
    array = np.random.default_rng(5).random((20, 24, 28)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetDirection((-1, 0, 0, 0, 0, 1, 0, -1, 0))  # flipped and permuted, like RAS or coronal data
    image.SetOrigin((10.0, -4.0, 7.0))
    working = reorient_resample(image)
    np.testing.assert_allclose(working.GetDirection(), np.eye(3).ravel())
    np.testing.assert_allclose(working.GetSpacing(), (1, 1, 1))
    assert sorted(working.GetSize()) == sorted(image.GetSize())
    for index in [(0, 0, 0), (5, 7, 9), (27, 23, 19)]:
        point = image.TransformIndexToPhysicalPoint(index)
        working_index = working.TransformPhysicalPointToIndex(point)
        assert working.GetPixel(working_index) == image.GetPixel(index)


def test_oblique_thick_slices_become_1mm_axis_aligned_in_the_same_physical_space():
    shape_zyx = (12, 60, 50)
    image = sitk.Image([shape_zyx[2], shape_zyx[1], shape_zyx[0]], sitk.sitkFloat32)
    image.SetSpacing((0.8, 0.8, 4.0))
    image.SetDirection(_left_handed_oblique_direction().ravel().tolist())
    image.SetOrigin((-20.0, 15.0, 3.0))
    centre_index = (25.0, 30.0, 6.0)
    centre = np.array(image.TransformContinuousIndexToPhysicalPoint(centre_index))
    # A smooth blob whose peak sits at a known physical point.
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in image.GetSize()], indexing="ij"), axis=-1).reshape(-1, 3)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    points = np.array(image.GetOrigin()) + (grid * np.array(image.GetSpacing())) @ direction.T
    values = np.exp(-np.sum((points - centre) ** 2, axis=1) / (2 * 8.0**2)).astype(np.float32)
    blob = sitk.GetImageFromArray(values.reshape(image.GetSize()).transpose(2, 1, 0))
    blob.CopyInformation(image)

    working = reorient_resample(blob)

    np.testing.assert_allclose(working.GetDirection(), np.eye(3).ravel())
    np.testing.assert_allclose(working.GetSpacing(), (1, 1, 1))
    assert np.linalg.norm(_physical_centroid(working) - _physical_centroid(blob)) < 0.5
    low_in = np.min(_corners(blob), axis=0)
    high_in = np.max(_corners(blob), axis=0)
    assert np.all(np.min(_corners(working), axis=0) <= low_in) and np.all(np.max(_corners(working), axis=0) >= high_in)


# ---------------------------------------------------------------- masks and bias field

def test_mask_from_stripped_takes_the_foreground_fills_holes_and_drops_specks():
    array = np.zeros((40, 40, 40), dtype=np.float32)
    zz, yy, xx = np.mgrid[:40, :40, :40]
    sphere = (zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 < 14**2
    array[sphere] = 100.0
    array[(zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 < 4**2] = 0.0  # a dark cavity inside
    array[2, 2, 35] = 50.0  # a speck outside
    for background in (0.0, -3.0):
        image = sitk.GetImageFromArray(np.where(array == 0, background, array).astype(np.float32))
        image.SetSpacing((1.2, 1.2, 1.2))
        mask = mask_from_stripped(image)
        assert mask.GetPixelID() == sitk.sitkUInt8
        assert mask.GetSpacing() == image.GetSpacing()
        np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), sphere.astype(np.uint8))


def test_mask_from_stripped_refuses_an_empty_image():
    with pytest.raises(InputError, match="empty"):
        mask_from_stripped(sitk.Image([20, 20, 20], sitk.sitkFloat32))


def test_bias_field_correction_flattens_a_smooth_field():
    shape = (48, 48, 48)
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    radius2 = (zz - 24) ** 2 + (yy - 24) ** 2 + (xx - 24) ** 2
    tissue = np.where(radius2 < 20**2, 100.0, 0.0) + np.where(radius2 < 9**2, 60.0, 0.0)
    field = np.exp(0.25 * (xx - 24) / 24 + 0.15 * (zz - 24) / 24)
    image = sitk.GetImageFromArray((tissue * field).astype(np.float32))
    image.SetSpacing((2.0, 2.0, 2.0))
    mask = sitk.GetImageFromArray((radius2 < 20**2).astype(np.uint8))
    mask.CopyInformation(image)

    corrected, parameters = correct_bias_field(image, mask)

    def variation(array, region):
        return array[region].std() / array[region].mean()

    outer = (radius2 < 18**2) & (radius2 > 11**2)
    before = variation(sitk.GetArrayFromImage(image), outer)
    after = variation(sitk.GetArrayFromImage(corrected), outer)
    assert after < 0.5 * before
    assert corrected.GetSize() == image.GetSize() and corrected.GetSpacing() == image.GetSpacing()
    assert parameters["shrink_factor"] == 4 and len(parameters["max_iterations"]) == 4


def test_registration_is_deterministic_whatever_the_process_threads_and_leaves_them_alone(monkeypatch):
    """The registration runs single-threaded by its own setting: many process threads change nothing,
    and the process's ITK thread count is the caller's before and after."""
    from phantoms import phantom_with_blob
    from RadioWMHSegLib.preprocessing.registration import register_to_mni

    image, _ = phantom_with_blob()
    working = reorient_resample(image)
    previous = sitk.ProcessObject_GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(8)  # more threads than cores: a threaded sum would vary

    def process_wide_change(threads):
        raise AssertionError("the registration changed the process's ITK thread count")

    monkeypatch.setattr(sitk, "ProcessObject_SetGlobalDefaultNumberOfThreads", process_wide_change)
    try:
        runs = [register_to_mni(working)[0].GetParameters() for _ in range(3)]
    finally:
        monkeypatch.undo()
        sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(previous)
    assert runs[0] == runs[1] == runs[2]


def test_skull_strip_method_choice():
    import torch

    # HD-BET on every device: the template method keeps scalp on raw scans (docs/preprocessing.md).
    assert choose_method("auto", torch.device("cpu")) == "hd-bet"
    assert choose_method("auto", torch.device("cuda")) == "hd-bet"
    assert choose_method("template", torch.device("cpu")) == "template"
    with pytest.raises(InputError, match="unknown skull-strip method"):
        choose_method("bet2", torch.device("cpu"))


# ---------------------------------------------------------------- mapping back, exact

def _case_with_known_transform():
    known = _known_mni_to_native()
    native = _native_grid_for(known)
    crop_zyx = templates.crop_shape_zyx()
    return PreprocessedCase(
        network_input=np.zeros(crop_zyx, np.float32),
        brain_mask_crop=np.zeros(crop_zyx, np.uint8),
        brain_mask_native=native,
        mni_to_native=known,
        record=[],
        native_reference=native,
    )


def test_to_native_puts_a_crop_blob_at_the_matching_native_position():
    case = _case_with_known_transform()
    crop = np.zeros(templates.crop_shape_zyx(), np.float32)
    blob_index_xyz = (52, 121, 97)
    x, y, z = blob_index_xyz
    crop[z - 3:z + 4, y - 3:y + 4, x - 3:x + 4] = 1.0
    blob_mni = np.array(templates.crop_grid().TransformIndexToPhysicalPoint(blob_index_xyz))
    expected_native = np.array(case.mni_to_native.TransformPoint(blob_mni.tolist()))

    back = case.to_native(crop)
    assert back.GetSize() == case.native_reference.GetSize()
    np.testing.assert_allclose(back.GetDirection(), case.native_reference.GetDirection())
    np.testing.assert_allclose(back.GetOrigin(), case.native_reference.GetOrigin())
    assert back.GetPixelID() == sitk.sitkFloat32
    assert np.linalg.norm(_physical_centroid(back) - expected_native) < 1.0

    back_mask = case.to_native(crop > 0.5, interpolator=sitk.sitkNearestNeighbor)
    assert back_mask.GetPixelID() == sitk.sitkUInt8
    assert np.linalg.norm(_physical_centroid(back_mask) - expected_native) < 1.5


def test_label_to_crop_and_back_round_trip():
    case = _case_with_known_transform()
    native = case.native_reference
    label = sitk.Image(native.GetSize(), sitk.sitkUInt8)
    label.CopyInformation(native)
    centre_mni = np.array(templates.crop_grid().TransformIndexToPhysicalPoint((90, 70, 80)))
    centre_native = np.array(case.mni_to_native.TransformPoint(centre_mni.tolist()))
    label_array = sitk.GetArrayFromImage(label)
    indices = np.argwhere(label_array >= 0)[:, ::-1]
    direction = np.array(native.GetDirection()).reshape(3, 3)
    points = np.array(native.GetOrigin()) + (indices * np.array(native.GetSpacing())) @ direction.T
    inside = np.linalg.norm(points - centre_native, axis=1) < 7.0
    label_array.reshape(-1)[:] = 0
    label_array[tuple(indices[inside][:, ::-1].T)] = 1
    label = sitk.GetImageFromArray(label_array)
    label.CopyInformation(native)

    label_crop = case.label_to_crop(label)

    assert label_crop.dtype == np.uint8 and label_crop.shape == templates.crop_shape_zyx()
    assert set(np.unique(label_crop)) == {0, 1}
    crop_image = sitk.GetImageFromArray(label_crop)
    crop_image.CopyInformation(templates.crop_grid())
    assert np.linalg.norm(_physical_centroid(crop_image) - centre_mni) < 1.5
