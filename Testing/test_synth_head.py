"""Skull-on synthetic heads (on a 2 mm generation grid, to stay quick): the brain of the skull-stripped twin, eyes,
skull base and neck, and brain extraction (HD-BET, the template mask's refinement) finding the true brain on them."""

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.metrics import dice
from RadioWMHSegLib.synth import generate_case
from RadioWMHSegLib.synth import head as head_module
from RadioWMHSegLib.synth.anatomy import padded_crop_grid, template_anatomy
from RadioWMHSegLib.synth.generator import generate_case_with_brain
from RadioWMHSegLib.synth.head import head_model


# Skull-on heads on a 2 mm generation grid, to stay quick: the head model works in mm (lesion sizes
# assume 1 mm voxels, which does not matter to these tests).
def _coarse_padded_grid(spacing=2.0):
    fine = padded_crop_grid()
    grid = sitk.Image([int(n / spacing) for n in fine.GetSize()], sitk.sitkUInt8)
    grid.SetOrigin(fine.GetOrigin())
    grid.SetSpacing((spacing,) * 3)
    grid.SetDirection(fine.GetDirection())
    return grid


@pytest.fixture(scope="module")
def coarse_head():
    """(image, label, true brain, metadata) of a skull-on case with room for the whole head."""
    return generate_case_with_brain(3, "radiation", skull=True, thick_slice_probability=0.0, severity=0.3,
                                    grid=_coarse_padded_grid())


def test_skull_on_case_has_the_brain_of_its_skull_stripped_twin(coarse_head):
    image, label, brain, metadata = coarse_head
    twin_image, twin_label, _ = generate_case(3, "radiation", thick_slice_probability=0.0, severity=0.3, grid=image)
    array, twin = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(twin_image)
    inside = sitk.GetArrayFromImage(brain) > 0
    assert metadata["skull"] is True and metadata["head"]["levels"]
    # The head has its own random stream: labels, brain and (away from the blurred edge) the brain's
    # voxels are those of the skull-stripped case of the same seed.
    assert np.array_equal(sitk.GetArrayFromImage(label), sitk.GetArrayFromImage(twin_label))
    assert np.array_equal(inside, twin > 0)
    from scipy import ndimage as ndi

    deep = ndi.binary_erosion(inside, iterations=4)
    np.testing.assert_allclose(array[deep], twin[deep], rtol=1e-5)
    # ...and a head around it: the tissue just outside the brain is not background.
    shell = ndi.binary_dilation(inside, iterations=5) & ~inside
    assert (array[shell] > 0.05 * np.median(array[inside])).mean() > 0.5


def test_skull_on_head_has_eyes_a_skull_base_and_a_neck():
    anatomy = template_anatomy(_coarse_padded_grid())
    head = head_model(3, anatomy, csf_level=0.2)
    tissue, image, code = head.tissue, head.image, head_module.CODE
    geometry = head_module.head_geometry(anatomy)
    z, y, x = np.meshgrid(geometry.z, geometry.y, geometry.x, indexing="ij")  # RAS mm
    voxel_ml = 8e-3
    for side in (-1.0, 1.0):  # globes near x = +-32, y = 57, z = -37 (MNI, RAS), dark vitreous in bright fat
        vitreous = (tissue == code["vitreous"]) & (x * side > 0)
        centre = np.array([x[vitreous].mean(), y[vitreous].mean(), z[vitreous].mean()])
        assert 3.0 < vitreous.sum() * voxel_ml < 9.0
        assert np.allclose(centre, [side * 32.0, 57.0, -37.0], atol=4.0)
        # The orbit behind the globe: fat around the muscles and the optic nerve.
        behind = (y < centre[1] - 8) & (y > centre[1] - 35) & (np.abs(x - side * 22) < 14)
        fat = (tissue == code["fat"]) & behind & (np.abs(z - centre[2]) < 14)
        assert fat.sum() * voxel_ml > 1.5
        assert image[fat].mean() > 1.5 * image[vitreous].mean()
        assert image[vitreous].mean() < 0.5  # vitreous is suppressed like CSF (WM = 1)

    # The brain rests on bone: going down from its lowest voxel, the first tissue after CSF is bone.
    brain = tissue == code["brain"]
    columns = np.argwhere(brain.any(axis=0))
    lowest = brain.argmax(axis=0)
    first_below = []
    for j, i in columns:
        below = tissue[: lowest[j, i], j, i][::-1]
        below = below[below != code["csf"]]
        first_below.append(below[0] if below.size else code["air"])
    first_below = np.asarray(first_below)
    assert np.isin(first_below, [code["bone"], code["marrow"]]).mean() > 0.85
    assert image[tissue == code["bone"]].mean() < 0.15

    # A neck 20 mm below the cerebellum: cord in a vertebral canal, muscle, fat under the skin.
    neck = tissue[int(np.argmin(np.abs(geometry.z + 92.0)))]
    assert 70.0 < (neck != code["air"]).sum() * 4e-2 < 200.0  # cm2
    for name in ("cord", "bone", "muscle", "fat"):
        assert (neck == code[name]).any(), name

    # Over the vertex: CSF, bone (with marrow), subcutaneous fat, then air.
    j, i = int(np.argmin(np.abs(geometry.y + 20.0))), int(np.argmin(np.abs(geometry.x)))
    column = tissue[:, j, i]
    upward = [head_module.TISSUES[t] for t in column[np.flatnonzero(column == code["brain"])[-1]:]]
    upward = ["bone" if t == "marrow" else t for t in upward if t not in ("skin", "muscle")]
    assert [t for k, t in enumerate(upward) if k == 0 or t != upward[k - 1]] == ["brain", "csf", "bone", "fat", "air"]


def _small_head_scan(image, brain, voxel_mm=1.6, below_mm=12.0):
    """The case as a scan of a head 80 % of adult size (a child's: the same voxels, smaller), in LPS
    order and cut below_mm under the brain. HD-BET then sees a 2 mm grid half the size of an adult's,
    which keeps the test quick."""
    image, brain = sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(brain, "LPS")
    rows = np.flatnonzero(sitk.GetArrayViewFromImage(brain).any(axis=(1, 2)))
    first = max(0, int(rows[0] - below_mm / voxel_mm))
    image, brain = image[:, :, first:], brain[:, :, first:]
    for volume in (image, brain):
        volume.SetSpacing((voxel_mm,) * 3)
    return image, brain


@pytest.mark.slow
def test_hdbet_finds_the_true_brain_of_a_skull_on_head(coarse_head):
    from RadioWMHSegLib.preprocessing import brain_extraction

    image, brain = _small_head_scan(coarse_head[0], coarse_head[2])
    mask, _ = brain_extraction.hdbet_brain_mask(image)
    assert dice(mask, brain) >= 0.9
    # No scalp, eyes or neck: hardly anything more than two voxels outside the true brain.
    grown = sitk.GetArrayFromImage(sitk.BinaryDilate(brain, [2, 2, 2])) > 0
    found = sitk.GetArrayFromImage(mask) > 0
    assert (found & ~grown).sum() < 0.01 * found.sum()


def test_template_mask_refinement_cuts_a_too_large_mask_back_to_the_brain(coarse_head):
    from RadioWMHSegLib.preprocessing import skull_strip

    image, _, brain, _ = coarse_head
    # As if the affine had carried the template brain 6 mm too far out: over CSF, bone and scalp.
    carried = sitk.BinaryDilate(brain, [3, 3, 3])
    refined, _ = skull_strip.refine_template_mask(image, carried)
    assert dice(refined, brain) > dice(carried, brain) + 0.05
    assert dice(refined, brain) > 0.9
