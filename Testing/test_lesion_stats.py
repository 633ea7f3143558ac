"""Lesion statistics: 26-connected lesions, physical volumes and centres, the minimum size."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.geometry import rotation
from RadioWMHSegLib.lesion_stats import compute_lesion_stats, mask_volume_ml, remove_small_lesions

SPACING = (0.5, 0.8, 3.0)  # thick slices, anisotropic in plane
VOXEL_ML = 0.5 * 0.8 * 3.0 / 1000.0


def oblique_image(array, spacing=SPACING):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetDirection((rotation(0.0, 25.0, 0.0) @ np.diag([1.0, -1.0, 1.0])).flatten().tolist())
    image.SetOrigin((12.0, -40.0, 7.5))
    return image


def three_lesions():
    """(z, y, x) array: a 5x5x5 cube, a 3x3x3 cube and two voxels touching only by a corner."""
    array = np.zeros((20, 30, 30), dtype=np.uint8)
    array[2:7, 3:8, 3:8] = 1        # 125 voxels, centre index (x, y, z) = (5, 5, 4)
    array[10:13, 20:23, 20:23] = 1  # 27 voxels, centre (21, 21, 11)
    array[15, 10, 10] = 1           # with the next voxel: one lesion of 2 voxels under 26-connectivity
    array[16, 11, 11] = 1
    return array


def test_count_volume_and_centres_on_an_oblique_anisotropic_grid():
    mask = oblique_image(three_lesions())
    stats = compute_lesion_stats(mask)

    assert stats.count == 3
    assert [lesion.n_voxels for lesion in stats.lesions] == [125, 27, 2]
    assert [lesion.index for lesion in stats.lesions] == [1, 2, 3]
    assert stats.total_volume_ml == pytest.approx(154 * VOXEL_ML)
    assert stats.lesions[0].volume_ml == pytest.approx(125 * VOXEL_ML)
    # The centre of an odd cube is a voxel: its physical point through the oblique direction matrix.
    assert stats.lesions[0].centre_voxel == (5, 5, 4)
    np.testing.assert_allclose(stats.lesions[0].centre_mm, mask.TransformIndexToPhysicalPoint((5, 5, 4)), atol=1e-6)
    assert stats.lesions[1].centre_voxel == (21, 21, 11)
    np.testing.assert_allclose(stats.lesions[1].centre_mm, mask.TransformIndexToPhysicalPoint((21, 21, 11)), atol=1e-6)


def test_minimum_size_drops_small_lesions_from_table_count_and_total():
    mask = oblique_image(three_lesions())
    exactly_27_voxels_mm3 = 27 * VOXEL_ML * 1000.0
    stats = compute_lesion_stats(mask, min_lesion_mm3=exactly_27_voxels_mm3)

    assert stats.count == 2  # a lesion of exactly the minimum size is kept
    assert stats.total_volume_ml == pytest.approx(152 * VOXEL_ML)
    assert stats.min_lesion_mm3 == pytest.approx(exactly_27_voxels_mm3)

    cleaned = remove_small_lesions(mask, exactly_27_voxels_mm3 + 0.01)
    assert cleaned.GetPixelID() == sitk.sitkUInt8
    assert cleaned.GetSize() == mask.GetSize()
    assert cleaned.GetSpacing() == mask.GetSpacing()
    assert cleaned.GetDirection() == mask.GetDirection()
    assert cleaned.GetOrigin() == mask.GetOrigin()
    kept = sitk.GetArrayFromImage(cleaned)
    expected = np.zeros_like(kept)
    expected[2:7, 3:8, 3:8] = 1
    np.testing.assert_array_equal(kept, expected)


def test_remove_small_lesions_with_zero_keeps_every_wmh_voxel():
    array = three_lesions()
    array[0, 0, 0] = 2  # other pathology is not WMH
    cleaned = sitk.GetArrayFromImage(remove_small_lesions(oblique_image(array), 0.0))
    np.testing.assert_array_equal(cleaned, (array == 1).astype(np.uint8))


def test_other_pathology_and_unscored_labels_are_not_counted():
    array = three_lesions()
    array[0:2, 25:29, 25:29] = 2
    stats = compute_lesion_stats(oblique_image(array))
    assert stats.count == 3
    assert sum(lesion.n_voxels for lesion in stats.lesions) == 154
    array[0:2, 25:29, 25:29] = 3  # a training label's unscored region (an exported case used as a mask)
    assert compute_lesion_stats(oblique_image(array)).count == 3


def test_empty_mask():
    stats = compute_lesion_stats(oblique_image(np.zeros((8, 9, 10), dtype=np.uint8)), min_lesion_mm3=5)
    assert stats.count == 0
    assert stats.total_volume_ml == 0.0
    assert stats.lesions == []
    assert stats.to_rows() == []
    assert json.loads(json.dumps(stats.to_dict()))["count"] == 0


def test_to_dict_and_to_rows_are_plain_data():
    stats = compute_lesion_stats(oblique_image(three_lesions()))
    document = json.loads(json.dumps(stats.to_dict()))
    assert document["count"] == 3
    assert document["lesions"][0]["n_voxels"] == 125
    assert document["lesions"][0]["centre_voxel"] == [5, 5, 4]
    rows = stats.to_rows()
    assert len(rows) == 3
    assert list(rows[0]) == ["index", "n_voxels", "volume_ml", "centre_x_mm", "centre_y_mm", "centre_z_mm",
                             "centre_i", "centre_j", "centre_k"]
    assert (rows[1]["centre_i"], rows[1]["centre_j"], rows[1]["centre_k"]) == (21, 21, 11)


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError):
        compute_lesion_stats(three_lesions())  # an array has no voxel size
    with pytest.raises(InputError):
        compute_lesion_stats(oblique_image(three_lesions()), min_lesion_mm3=-1)
    with pytest.raises(InputError):
        remove_small_lesions(oblique_image(three_lesions()), float("nan"))


def test_real_consensus_mask(shared_data):
    # The dataset's README: 19 lesions, 8,227 voxels of 1 mm^3.
    mask = sitk.ReadImage(str(shared_data / "open_ms" / "dev_case_patient26" / "GOLD_STANDARD.nii.gz"))
    stats = compute_lesion_stats(mask)
    assert stats.count == 19
    assert stats.total_volume_ml == pytest.approx(8.227, abs=1e-6)
    assert compute_lesion_stats(mask, min_lesion_mm3=10).count < 19


def test_mask_volume_ml_counts_the_voxels_of_one_label_at_their_physical_size():
    # Exports and the stats JSON give WMH (label 1) and other pathology (label 2) volumes apart.
    array = three_lesions()
    array[0, 0:4, 0] = 2
    image = oblique_image(array)
    assert mask_volume_ml(image, 1) == pytest.approx(154 * VOXEL_ML)
    assert mask_volume_ml(image, 2) == pytest.approx(4 * VOXEL_ML)
    assert mask_volume_ml(image) == pytest.approx(158 * VOXEL_ML)
