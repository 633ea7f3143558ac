"""WMH-challenge metrics: hand-computed cases, edge cases, and two independent implementations
(the challenge's procedure written with SimpleITK and brute-force distances; MONAI)."""

import time

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial.distance import cdist

from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.geometry import rotation
from RadioWMHSegLib.metrics import METRIC_KEYS, compute_metrics


def image_of(array, spacing=(1.0, 1.0, 1.0), direction=None, origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(np.asarray(array, dtype=np.uint8))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(np.asarray(direction, dtype=float).flatten().tolist())
    return image


def oblique_direction(degrees=20.0):
    return rotation(0.0, 0.0, degrees) @ np.diag([1, 1, -1])


def random_blobs(shape, n_blobs, seed, max_radius=4):
    """Ellipsoid-ish lesions of random size at random places, away from the border."""
    rng = np.random.default_rng(seed)
    array = np.zeros(shape, dtype=np.uint8)
    grid = np.indices(shape)
    for _ in range(n_blobs):
        centre = [rng.integers(max_radius + 1, s - max_radius - 1) for s in shape]
        radii = rng.uniform(0.8, max_radius, size=3)
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0
        array[inside] = 1
    return array


def challenge_style_metrics(pred_image, ref_image):
    """The challenge's procedure, written independently: SimpleITK erosion and components, distances
    between physical boundary points by brute force. Only for small volumes."""
    labels = sitk.Cast(ref_image, sitk.sitkFloat32)  # on uint8, a threshold of 0.5 would be cast to 0
    ref = sitk.BinaryThreshold(labels, 0.5, 1.5, 1, 0)
    keep = sitk.Cast(sitk.BinaryThreshold(labels, 1.5, 2.5, 0, 1), sitk.sitkUInt8)
    pred = sitk.BinaryThreshold(sitk.Mask(pred_image, keep), 1, 255, 1, 0)
    pred_array, ref_array = sitk.GetArrayFromImage(pred), sitk.GetArrayFromImage(ref)

    def boundary_points(image):
        edge = sitk.GetArrayFromImage(sitk.Subtract(image, sitk.BinaryErode(image, (1, 1, 0))))
        return np.array([ref_image.TransformIndexToPhysicalPoint([int(i) for i in index[::-1]])
                         for index in np.argwhere(edge)])

    distances = cdist(boundary_points(pred), boundary_points(ref))
    pred_to_ref, ref_to_pred = distances.min(axis=1), distances.min(axis=0)

    ref_components = sitk.GetArrayFromImage(sitk.ConnectedComponent(ref, True))
    pred_components = sitk.GetArrayFromImage(sitk.ConnectedComponent(pred, True))
    n_ref, n_pred = ref_components.max(), pred_components.max()
    detected = len(np.unique(ref_components * pred_array)) - 1
    true_pred = len(np.unique(pred_components * ref_array)) - 1
    recall, precision = detected / n_ref, true_pred / n_pred
    overlap = int((pred_array & ref_array).sum())
    return {
        "dsc": 2 * overlap / (pred_array.sum() + ref_array.sum()),
        "hd": max(pred_to_ref.max(), ref_to_pred.max()),
        "hd95": max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95)),
        "avd": abs(int(pred_array.sum()) - int(ref_array.sum())) / ref_array.sum() * 100,
        "lesion_recall": recall,
        "lesion_precision": precision,
        "lesion_f1": 2 * recall * precision / (recall + precision),
    }


def test_two_cubes_at_a_known_offset():
    ref = np.zeros((30, 30, 30), dtype=np.uint8)
    pred = np.zeros_like(ref)
    ref[10:20, 10:20, 10:20] = 1
    pred[10:20, 10:20, 13:23] = 1  # shifted by 3 voxels along x
    spacing = (2.0, 1.0, 1.5)       # x, y, z in mm

    m = compute_metrics(image_of(pred, spacing), image_of(ref, spacing))

    assert m["dsc"] == pytest.approx(0.7)  # 700 common voxels of 1000 each
    assert m["sensitivity"] == pytest.approx(0.7)
    assert m["precision"] == pytest.approx(0.7)
    assert m["avd"] == pytest.approx(0.0)
    assert m["hd"] == pytest.approx(6.0)  # 3 voxels of 2 mm
    assert 0 < m["hd95"] <= m["hd"]
    assert (m["lesion_recall"], m["lesion_precision"], m["lesion_f1"]) == (1.0, 1.0, 1.0)
    assert (m["n_ref_lesions"], m["n_pred_lesions"]) == (1, 1)
    assert m["ref_volume_ml"] == pytest.approx(1000 * 3.0 / 1000)
    assert set(m) == set(METRIC_KEYS)


def test_single_voxels_give_their_physical_distance():
    ref = np.zeros((12, 12, 12), dtype=np.uint8)
    pred = np.zeros_like(ref)
    ref[2, 3, 4] = 1
    pred[7, 5, 4] = 1  # 5 slices and 2 rows away
    spacing = (0.7, 0.9, 3.0)
    expected = np.hypot(5 * 3.0, 2 * 0.9)
    m = compute_metrics(image_of(pred, spacing, oblique_direction()), image_of(ref, spacing, oblique_direction()))
    assert m["hd"] == pytest.approx(expected)
    assert m["hd95"] == pytest.approx(expected)
    assert m["dsc"] == 0.0
    assert (m["lesion_recall"], m["lesion_precision"], m["lesion_f1"]) == (0.0, 0.0, 0.0)


def test_lesion_detection_counts():
    ref = np.zeros((20, 40, 40), dtype=np.uint8)
    pred = np.zeros_like(ref)
    ref[5:8, 5:8, 5:8] = 1      # lesion A: hit by one predicted voxel
    ref[5:8, 20:23, 5:8] = 1    # lesion B: missed
    ref[5:8, 5:8, 20:23] = 1    # lesion C and D, both touched by one long predicted lesion
    ref[5:8, 5:8, 30:33] = 1
    pred[6, 6, 6] = 1
    pred[6, 6, 21:32] = 1
    pred[15, 30, 30] = 1        # two false positives
    pred[15, 10, 30:33] = 1
    pred[12, 30, 10] = 1        # and a third, touching the next voxel only by a corner: same lesion
    pred[13, 31, 11] = 1

    m = compute_metrics(pred, ref)

    assert (m["n_ref_lesions"], m["n_pred_lesions"]) == (4, 5)
    assert m["lesion_recall"] == pytest.approx(3 / 4)
    assert m["lesion_precision"] == pytest.approx(2 / 5)
    assert m["lesion_f1"] == pytest.approx(2 * 0.75 * 0.4 / (0.75 + 0.4))


def test_other_pathology_is_left_out_of_both_masks():
    ref = np.zeros((20, 20, 20), dtype=np.uint8)
    ref[4:8, 4:8, 4:8] = 1
    ref[12:18, 12:18, 12:18] = 2
    pred = (ref > 0).astype(np.uint8)  # also predicts WMH over the other pathology
    m = compute_metrics(pred, ref)
    assert m["dsc"] == 1.0
    assert m["n_pred_lesions"] == 1
    assert m["hd"] == 0.0
    # a prediction file carrying label 2 does not count it as WMH either
    pred_with_labels = ref.copy()
    pred_with_labels[0:2, 0:2, 0:2] = 2
    assert compute_metrics(pred_with_labels, ref)["dsc"] == 1.0


def test_an_unscored_region_is_left_out_of_both_masks_and_other_values_are_refused():
    ref = np.zeros((20, 20, 20), dtype=np.uint8)
    ref[4:8, 4:8, 4:8] = 1
    ref[12:18, 12:18, 12:18] = 3  # unscored: e.g. bands labelled by another convention
    pred = (ref == 1).astype(np.uint8)
    pred[14:16, 14:16, 14:16] = 1  # called where nothing is scored
    m = compute_metrics(pred, ref)
    assert m["dsc"] == 1.0 and m["n_pred_lesions"] == 1 and m["hd95"] == 0.0
    ref[0, 0, 0] = 4
    with pytest.raises(InputError, match="0, 1, 2 and 3"):
        compute_metrics(pred, ref)


def test_probability_maps_are_read_at_one_half():
    ref = np.zeros((10, 10, 10), dtype=np.uint8)
    ref[3:6, 3:6, 3:6] = 1
    probability = ref * 0.7 + 0.2
    assert compute_metrics(probability, ref)["dsc"] == 1.0


def test_empty_masks():
    empty = np.zeros((10, 10, 10), dtype=np.uint8)
    lesion = empty.copy()
    lesion[3:6, 3:6, 3:6] = 1

    both = compute_metrics(empty, empty)
    assert (both["dsc"], both["hd"], both["hd95"], both["avd"]) == (1.0, 0.0, 0.0, 0.0)
    assert (both["sensitivity"], both["precision"]) == (1.0, 1.0)
    assert (both["lesion_recall"], both["lesion_precision"], both["lesion_f1"]) == (1.0, 1.0, 1.0)

    missed = compute_metrics(empty, lesion)  # nothing predicted
    assert (missed["dsc"], missed["sensitivity"], missed["precision"]) == (0.0, 0.0, 1.0)
    assert np.isnan(missed["hd"]) and np.isnan(missed["hd95"])
    assert missed["avd"] == 100.0
    assert (missed["lesion_recall"], missed["lesion_precision"], missed["lesion_f1"]) == (0.0, 1.0, 0.0)

    spurious = compute_metrics(lesion, empty)  # nothing to find, something predicted
    assert (spurious["dsc"], spurious["sensitivity"], spurious["precision"]) == (0.0, 1.0, 0.0)
    assert np.isnan(spurious["hd"]) and np.isnan(spurious["avd"])
    assert (spurious["lesion_recall"], spurious["lesion_precision"], spurious["lesion_f1"]) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_the_challenge_procedure_on_oblique_anisotropic_images(seed):
    shape = (14, 36, 32)
    spacing = (0.9, 1.1, 3.0)
    ref = random_blobs(shape, 6, seed)
    pred = ndimage.shift(random_blobs(shape, 2, seed + 100) | ref, (0, 1, -1), order=0)
    pred[ndimage.binary_erosion(ref, iterations=1) & (np.arange(shape[2]) % 3 == 0)] = 0  # holes
    ref[0:2, 0:3, 0:3] = 2
    geometry = dict(spacing=spacing, direction=oblique_direction(), origin=(-20.0, 35.0, 4.0))
    pred_image, ref_image = image_of(pred, **geometry), image_of(ref, **geometry)

    ours = compute_metrics(pred_image, ref_image)
    theirs = challenge_style_metrics(pred_image, ref_image)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key


@pytest.mark.filterwarnings("ignore::FutureWarning")  # MONAI's own deprecation notices
@pytest.mark.parametrize("seed", [3, 4])
def test_matches_monai_with_a_3d_boundary(seed):
    import torch
    from monai.metrics import compute_dice, compute_hausdorff_distance

    shape = (20, 30, 26)
    spacing_xyz = (0.8, 1.2, 2.5)
    ref = random_blobs(shape, 5, seed)
    pred = ndimage.shift(ref, (1, 0, 2), order=0) | random_blobs(shape, 2, seed + 50)

    ours = compute_metrics(pred, ref, spacing=spacing_xyz, surface="3d")
    one_hot = [torch.from_numpy(np.stack([1 - a, a])[None].astype(np.float32)) for a in (pred, ref)]
    spacing_zyx = spacing_xyz[::-1]  # MONAI's spacing follows the array axes
    dice = compute_dice(*one_hot, include_background=False).item()
    hd = compute_hausdorff_distance(*one_hot, spacing=spacing_zyx).item()
    hd95 = compute_hausdorff_distance(*one_hot, percentile=95, spacing=spacing_zyx).item()
    assert ours["dsc"] == pytest.approx(dice, rel=1e-5)
    assert ours["hd"] == pytest.approx(hd, rel=1e-5)
    assert ours["hd95"] == pytest.approx(hd95, rel=1e-5)


def test_images_on_different_grids_are_refused():
    a = image_of(np.zeros((10, 12, 14)), spacing=(1.0, 1.0, 1.0))
    b = image_of(np.zeros((10, 12, 15)), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(InputError, match=r"14x12x10.*15x12x10"):
        compute_metrics(a, b)
    c = image_of(np.zeros((10, 12, 14)), spacing=(1.0, 1.0, 3.0))
    with pytest.raises(InputError, match="spacing 1x1x3"):
        compute_metrics(a, c)


def test_bad_reference_values_and_options_are_refused():
    ref = np.zeros((6, 6, 6), dtype=np.uint8)
    ref[2, 2, 2] = 255
    with pytest.raises(InputError, match="0, 1, 2 and 3"):
        compute_metrics(ref, ref)
    with pytest.raises(InputError, match="surface"):
        compute_metrics(ref * 0, ref * 0, surface="2d")
    with pytest.raises(InputError, match="3D"):
        compute_metrics(np.zeros((4, 4)), np.zeros((4, 4)))


def test_fast_on_a_whole_mni_volume():
    shape = (182, 218, 182)
    ref = np.zeros(shape, dtype=np.uint8)
    ref[40:140, 50:170, 40:140] = random_blobs((100, 120, 100), 60, seed=7, max_radius=6)
    pred = ndimage.shift(ref, (0, 1, 1), order=0)
    pred[90:100, 100:110, 20:60] = 1
    started = time.perf_counter()
    m = compute_metrics(pred, ref)
    assert time.perf_counter() - started < 10.0  # about 0.3 s on one core; generous for a busy CI machine
    assert 0.3 < m["dsc"] < 1.0


def test_real_masks(shared_data):
    ref = sitk.ReadImage(str(shared_data / "open_ms" / "dev_case_patient26" / "GOLD_STANDARD.nii.gz"))
    assert compute_metrics(ref, ref)["dsc"] == 1.0
    dilated = compute_metrics(sitk.BinaryDilate(ref, (1, 1, 1)), ref)
    assert dilated["sensitivity"] == 1.0 and dilated["lesion_recall"] == 1.0
    assert dilated["n_ref_lesions"] == 19
    assert 0.0 < dilated["hd95"] <= dilated["hd"] < 5.0
