"""Preprocessing: each stage on small synthetic volumes, then the whole pipeline on the MNI template
placed in an oblique, left-handed native grid through a known affine (so the answer is known)."""


import numpy as np
import pytest
import SimpleITK as sitk

from conftest import SHARED_DATA as DATA
from RadioWMHSegLib import templates
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.geometry import rotation as _rotation
from RadioWMHSegLib.metrics import dice
from RadioWMHSegLib.preprocessing import PreprocessedCase, mask_from_stripped, normalise_intensity, preprocess
from RadioWMHSegLib.preprocessing.bias_field import correct_bias_field
from RadioWMHSegLib.preprocessing.intensity import CLIP_SIGMA
from RadioWMHSegLib.preprocessing.reorient_resample import reorient_resample
from RadioWMHSegLib.preprocessing.skull_strip import choose_method

CLINICAL_FLAIR = DATA / "clinical_flair_1mm" / "FLAIR.nii.gz"


# ---------------------------------------------------------------- helpers

def _known_mni_to_native():
    """A head 8% smaller than the template, tilted and shifted: MNI point -> native point."""
    transform = sitk.AffineTransform(3)
    transform.SetCenter((0.0, -18.0, 18.0))
    transform.SetMatrix((0.92 * _rotation(8, -6, 12)).ravel().tolist())
    transform.SetTranslation((6.0, -9.0, 14.0))
    return transform


def _left_handed_oblique_direction():
    direction = _rotation(5, 10, -7) @ np.diag([1.0, 1.0, -1.0])
    assert np.linalg.det(direction) < 0
    return direction


def _grid_covering(points, direction, spacing, margin_mm=10.0, pixel=sitk.sitkUInt8):
    """An empty image with the given direction and spacing whose voxels cover every point (+margin)."""
    coordinates = np.asarray(points) @ direction  # coordinates along the grid's axes
    low = coordinates.min(axis=0) - margin_mm
    high = coordinates.max(axis=0) + margin_mm
    size = [int(np.ceil((h - l) / s)) + 1 for l, h, s in zip(low, high, spacing)]
    grid = sitk.Image(size, pixel)
    grid.SetSpacing([float(s) for s in spacing])
    grid.SetDirection(direction.ravel().tolist())
    grid.SetOrigin((direction @ low).tolist())
    return grid


def _corners(image):
    size = image.GetSize()
    return [image.TransformIndexToPhysicalPoint((i, j, k))
            for i in (0, size[0] - 1) for j in (0, size[1] - 1) for k in (0, size[2] - 1)]


def _native_grid_for(mni_to_native, spacing=(1.3, 1.1, 2.5)):
    mapped = [mni_to_native.TransformPoint(p) for p in _corners(templates.crop_grid())]
    return _grid_covering(mapped, _left_handed_oblique_direction(), spacing)


def _physical_centroid(image, weights=None):
    array = sitk.GetArrayFromImage(image).astype(float)
    weights = array if weights is None else weights
    indices = np.argwhere(weights > 0)
    w = weights[weights > 0]
    xyz = indices[:, ::-1]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    points = np.array(image.GetOrigin()) + (xyz * np.array(image.GetSpacing())) @ direction.T
    return (points * w[:, None]).sum(axis=0) / w.sum()


def _rms_distance(transform_a, transform_b, image):
    """RMS distance (mm) between where two transforms send the voxels of a mask (subsampled)."""
    indices = np.argwhere(sitk.GetArrayFromImage(image) > 0)[::500, ::-1]
    points = [image.TransformIndexToPhysicalPoint([int(v) for v in index]) for index in indices]
    distances = [np.linalg.norm(np.subtract(transform_a.TransformPoint(p), transform_b.TransformPoint(p))) for p in points]
    return float(np.sqrt(np.mean(np.square(distances))))


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


# ---------------------------------------------------------------- whole pipeline (slow)

@pytest.fixture(scope="module")
def synthetic_native():
    """The MNI template seen through a known affine on an oblique, left-handed 1.3x1.1x2.5 mm grid."""
    known = _known_mni_to_native()
    grid = _native_grid_for(known)
    native = sitk.Resample(templates.mni_t1(), grid, known.GetInverse(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return native, known


@pytest.fixture(scope="module")
def template_case(synthetic_native):
    native, _ = synthetic_native
    progress = []
    case = preprocess(native, skull_strip_method="template", device="cpu",
                      progress=lambda fraction, message: progress.append((fraction, message)))
    return case, progress


@pytest.mark.slow
def test_pipeline_recovers_the_known_affine_and_brain(synthetic_native, template_case):
    native, known = synthetic_native
    case, progress = template_case
    template_mask = templates.mni_brain_mask()

    assert _rms_distance(case.mni_to_native, known, template_mask) < 3.0

    crop_template_mask = sitk.GetArrayFromImage(templates.to_crop_grid(template_mask, sitk.sitkNearestNeighbor))
    assert case.brain_mask_crop.dtype == np.uint8
    assert dice(case.brain_mask_crop, crop_template_mask) > 0.9

    expected_native_mask = sitk.Resample(template_mask, native, known.GetInverse(), sitk.sitkNearestNeighbor, 0)
    assert case.brain_mask_native.GetSize() == native.GetSize()
    np.testing.assert_allclose(case.brain_mask_native.GetDirection(), native.GetDirection())
    np.testing.assert_allclose(case.brain_mask_native.GetOrigin(), native.GetOrigin())
    assert dice(sitk.GetArrayFromImage(case.brain_mask_native), sitk.GetArrayFromImage(expected_native_mask)) > 0.9


@pytest.mark.slow
def test_pipeline_outputs_are_normalised_on_the_crop_and_recorded(template_case):
    case, progress = template_case
    assert case.network_input.dtype == np.float32
    assert case.network_input.shape == templates.crop_shape_zyx()
    assert np.all(case.network_input[case.brain_mask_crop == 0] == 0)
    inside = case.network_input[case.brain_mask_crop > 0]
    assert abs(np.median(inside)) < 0.05

    template_crop = sitk.GetArrayFromImage(templates.to_crop_grid(templates.mni_t1()))
    both = (case.brain_mask_crop > 0) & (template_crop > 0)
    # The ceiling is ~0.97 with the true affine; N4 reshapes the T1 template's contrast a little and
    # the recovered affine is ~1.5 mm off, both of which cost voxel-wise correlation at sharp edges.
    assert np.corrcoef(case.network_input[both], template_crop[both])[0, 1] > 0.7

    stages = [entry["stage"] for entry in case.record]
    assert stages[:2] == ["reorient_resample", "registration"]
    assert {"skull_strip", "bias_field", "crop_normalise"} <= set(stages)
    assert all(isinstance(entry["parameters"], dict) and entry["seconds"] >= 0 for entry in case.record)
    fractions = [fraction for fraction, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


@pytest.mark.slow
def test_pipeline_on_a_skull_stripped_input_keeps_its_foreground(synthetic_native):
    native, known = synthetic_native
    case = preprocess(native, skull_stripped=True)
    expected = sitk.GetArrayFromImage(mask_from_stripped(native))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(case.brain_mask_native), expected)
    stage = next(s for s in case.record if s["stage"] == "skull_strip")
    assert stage["parameters"]["method"].startswith("already skull-stripped")
    assert _rms_distance(case.mni_to_native, known, templates.mni_brain_mask()) < 3.0


@pytest.mark.slow
def test_pipeline_in_mni_space_skips_registration_and_keeps_voxels():
    image = templates.to_crop_grid(templates.mni_t1())
    case = preprocess(image, skull_stripped=True, in_mni_space=True)
    identity_point = (12.0, -30.0, 25.0)
    np.testing.assert_allclose(case.mni_to_native.TransformPoint(identity_point), identity_point)
    foreground = sitk.GetArrayFromImage(mask_from_stripped(image))
    np.testing.assert_array_equal(case.brain_mask_crop, foreground)
    assert np.all(case.network_input[foreground == 0] == 0)
    back = case.to_native(case.network_input)
    np.testing.assert_allclose(sitk.GetArrayFromImage(back), case.network_input, atol=1e-5)


def test_preprocess_refuses_what_is_not_a_3d_image():
    with pytest.raises(InputError, match="SimpleITK image"):
        preprocess(np.zeros((10, 10, 10)))
    with pytest.raises(InputError, match="unknown skull-strip method"):
        preprocess(sitk.Image([10, 10, 10], sitk.sitkFloat32), skull_strip_method="magic", device="cpu")


@pytest.mark.slow
@pytest.mark.skipif(not CLINICAL_FLAIR.exists(), reason="../shared/data is absent (development machines only)")
def test_real_skull_on_flair_gives_a_plausible_brain():
    from RadioWMHSegLib.image_io import read_flair

    image = read_flair(CLINICAL_FLAIR)
    case = preprocess(image, skull_strip_method="template", device="cpu")
    voxel_ml = np.prod(image.GetSpacing()) / 1000.0
    volume_ml = sitk.GetArrayFromImage(case.brain_mask_native).sum() * voxel_ml
    assert 900 < volume_ml < 1900
    crop_template_mask = sitk.GetArrayFromImage(templates.to_crop_grid(templates.mni_brain_mask(), sitk.sitkNearestNeighbor))
    assert dice(case.brain_mask_crop, crop_template_mask) > 0.85


def test_hdbet_weights_are_loaded_without_subnormal_floats():
    # Subnormal weights cost a microcode assist per product on Intel CPUs: HD-BET took ~200 s a scan.
    import torch

    from RadioWMHSegLib.model_io import flush_denormals
    from RadioWMHSegLib.preprocessing.brain_extraction import _network

    tiny = torch.finfo(torch.float32).tiny
    state = {"w": torch.tensor([tiny / 4, -tiny / 8, 0.0, tiny, -2 * tiny, 0.5]),
             "steps": torch.tensor([3])}
    flush_denormals(state)
    assert state["w"].tolist() == [0.0, 0.0, 0.0, tiny, -2 * tiny, 0.5]
    assert state["steps"].tolist() == [3]
    # Parameters, not buffers: HD-BET's norms run in training mode, so their running statistics (never used in
    # the computation) drift with every pass run before this test and may turn subnormal.
    for name, tensor in _network("cpu").named_parameters():
        assert not ((tensor != 0) & (tensor.abs() < tiny)).any(), name
