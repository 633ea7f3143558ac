"""Synthetic FLAIR generator: reproducibility, grid, labels per phenotype, thick slices, lesion banks, cohorts, severity,
faint WMH and hard negatives. Skull-on heads: test_synth_head.py."""

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from RadioWMHSegLib import templates
from RadioWMHSegLib.datasets import load_dataset
from RadioWMHSegLib.errors import DatasetError, InputError
from RadioWMHSegLib.geometry import same_grid
from RadioWMHSegLib.synth import generate_case, generate_cohort
from RadioWMHSegLib.synth.contrast import thick_slices
from RadioWMHSegLib.synth.generator import case_seed
from conftest import SHARED_DATA  # noqa: E402

REAL_BANK = SHARED_DATA / "open_ms" / "lesion_masks_mni"


@pytest.fixture(scope="module")
def cases():
    """One case per phenotype (a few seconds each, the template anatomy is built once)."""
    return {p: generate_case(11, p, thick_slice_probability=0.0) for p in ("radiation", "ms", "glioma")}


def _arrays(case):
    image, label, _ = case
    return sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(label)


def test_same_seed_gives_identical_arrays_and_other_seed_differs(cases):
    image, label, metadata = generate_case(11, "radiation", thick_slice_probability=0.0)
    first_image, first_label = _arrays(cases["radiation"])
    assert np.array_equal(sitk.GetArrayFromImage(image), first_image)
    assert np.array_equal(sitk.GetArrayFromImage(label), first_label)
    assert metadata["contrast"] == cases["radiation"][2]["contrast"]
    other = sitk.GetArrayFromImage(generate_case(12, "radiation", thick_slice_probability=0.0)[0])
    assert not np.array_equal(other, first_image)


@pytest.mark.parametrize("phenotype", ["radiation", "ms", "glioma"])
def test_case_on_crop_grid_with_valid_labels_inside_brain(cases, phenotype):
    image, label, metadata = cases[phenotype]
    grid = templates.crop_grid()
    assert same_grid(image, grid) and same_grid(label, grid)
    assert image.GetPixelID() == sitk.sitkFloat32 and label.GetPixelID() == sitk.sitkUInt8
    array, labels = _arrays(cases[phenotype])
    assert set(np.unique(labels)) <= {0, 1, 2}
    brain = array > 0
    assert not np.any(labels[~brain]), "labels must lie inside the (nonzero) brain"
    assert 100 < array[brain].mean() < 1000 and array.max() < 5000
    assert metadata["phenotype"] == phenotype
    assert metadata["wmh_volume_ml"] == pytest.approx((labels == 1).sum() / 1000.0, abs=1e-3)
    if phenotype in ("radiation", "ms"):
        assert (labels == 1).sum() > 50
        assert not np.any(labels == 2)
    else:
        assert (labels == 2).sum() > 500


def test_skull_stripped_case_is_exactly_zero_outside_one_brain(cases):
    array, _ = _arrays(cases["radiation"])
    brain = array != 0
    assert 1.2e6 < brain.sum() < 2.6e6  # an adult brain, in ml, on a 1 mm grid
    # The nonzero region is one solid brain: what mask_from_stripped will take as the mask.
    from scipy import ndimage as ndi

    components, count = ndi.label(brain)
    assert np.bincount(components.ravel())[1:].max() > 0.99 * brain.sum()


def test_preprocessing_takes_the_nonzero_region_as_the_brain_mask(cases):
    from RadioWMHSegLib.preprocessing.skull_strip import mask_from_stripped

    image = cases["ms"][0]
    mask = sitk.GetArrayFromImage(mask_from_stripped(image)).astype(bool)
    nonzero = sitk.GetArrayFromImage(image) > 0
    assert (mask ^ nonzero).sum() < 1e-4 * nonzero.sum()


def test_lesions_are_brighter_than_white_matter_but_not_trivially_separable(cases):
    array, labels = _arrays(cases["radiation"])
    brain = array > 0
    z = (array - array[brain].mean()) / array[brain].std()
    lesion = labels == 1
    found = (z > 2.0) & brain
    dice = 2 * (found & lesion).sum() / (found.sum() + lesion.sum())
    assert np.median(z[lesion]) > 1.0, "lesions must stand out from the brain on average"
    assert dice < 0.9, f"a z-score threshold must not recover the lesions exactly (dice {dice:.2f})"


def test_radiation_severity_grows_lesion_volume():
    mild = generate_case(5, "radiation", severity=0.05, thick_slice_probability=0.0)[2]
    severe = generate_case(5, "radiation", severity=0.95, thick_slice_probability=0.0)[2]
    assert severe["wmh_volume_ml"] > 3 * mild["wmh_volume_ml"] > 0


def test_thick_slices_smooth_along_one_axis_only():
    rng = np.random.default_rng(0)
    volume = rng.standard_normal((40, 30, 20)).astype(np.float32)
    smoothed = thick_slices(volume, 1, 5)
    assert smoothed.shape == volume.shape
    variation = [np.abs(np.diff(smoothed, axis=a)).mean() for a in range(3)]
    assert variation[1] < 0.5 * min(variation[0], variation[2])
    # The mean of the volume is kept (averaging then interpolating).
    assert abs(smoothed.mean() - volume.mean()) < 0.05


def test_thick_slice_case_is_smoother_along_its_slice_axis():
    image, _, metadata = generate_case(21, "ms", thick_slice_probability=1.0)
    thick = metadata["acquisition"]["thick_slices"]
    assert thick is not None and 3 <= thick["thickness_mm"] <= 7
    array = sitk.GetArrayFromImage(image)
    inner = array[20:-20, 20:-20, 20:-20]
    inside = inner > 0
    variation = [np.abs(np.diff(inner, axis=a))[np.take(inside, range(inner.shape[a] - 1), axis=a)].mean()
                 for a in range(3)]
    axis = thick["array_axis_zyx"]
    assert variation[axis] < min(v for a, v in enumerate(variation) if a != axis)


def test_bad_arguments_are_refused():
    with pytest.raises(InputError):
        generate_case(0, "stroke")
    with pytest.raises(InputError):
        generate_case(0, "radiation", severity=2.0)


def _fake_bank(folder: Path):
    """Two lesion masks on FSL's MNI grid (182x218x182, another grid than the template's)."""
    folder.mkdir()
    for i, centre_mm in enumerate([(-25.0, -10.0, 25.0), (28.0, 5.0, 20.0)]):
        mask = sitk.Image([182, 218, 182], sitk.sitkUInt8)
        mask.SetOrigin((-90.0, 126.0, -72.0))
        mask.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
        # centre in RAS mm -> SimpleITK (LPS) point -> index
        index = mask.TransformPhysicalPointToIndex((-centre_mm[0], -centre_mm[1], centre_mm[2]))
        array = sitk.GetArrayFromImage(mask)
        x, y, z = index
        array[z - 3:z + 4, y - 4:y + 5, x - 3:x + 4] = 1
        array[z - 2:z + 3, y + 20:y + 25, x - 2:x + 3] = 1  # a second component
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(mask)
        sitk.WriteImage(out, str(folder / f"patient{i:02d}_lesions.nii.gz"))
    return folder


def test_lesion_bank_masks_are_placed_in_white_matter(tmp_path):
    bank = _fake_bank(tmp_path / "bank")
    image, label, metadata = generate_case(4, "ms", lesion_bank=bank, thick_slice_probability=0.0)
    labels = sitk.GetArrayFromImage(label)
    assert (labels == 1).sum() > 50
    assert metadata["lesions"]["bank_masks"]
    assert set(metadata["lesions"]["bank_masks"]) <= {"patient00_lesions.nii.gz", "patient01_lesions.nii.gz"}
    with pytest.raises(InputError):
        generate_case(4, "ms", lesion_bank=tmp_path / "missing")


@pytest.mark.slow
@pytest.mark.skipif(not REAL_BANK.is_dir(), reason="real lesion masks not available")
def test_real_lesion_bank():
    _, label, metadata = generate_case(2, "ms", lesion_bank=REAL_BANK, thick_slice_probability=0.0)
    assert (sitk.GetArrayFromImage(label) == 1).sum() > 0
    assert metadata["lesions"]["bank_masks"]


def test_cohort_layout_metadata_refusal_and_resume(tmp_path):
    out = tmp_path / "cohort"
    generate_cohort(out, 2, ["radiation", "ms"], 3, progress=False)
    dataset = load_dataset(out)
    assert dataset.space == "MNI152NLin2009cSym" and dataset.skull_stripped is True
    assert [c.name for c in dataset.cases] == ["case_000", "case_001"]
    for index, case in enumerate(dataset.cases):
        assert case.metadata["seed"] == case_seed(3, index)
        assert case.metadata["phenotype"] in ("radiation", "ms")
        assert case.metadata["wmh_volume_ml"] >= 0 and "contrast" in case.metadata
        assert case.image_path.name == f"{case.name}_0000.nii.gz"
    # Reproducible: the case on disk is what generate_case gives for its recorded seed.
    first = dataset.cases[0]
    again = generate_case(first.metadata["seed"], first.metadata["phenotype"])[0]
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(first.image_path))), sitk.GetArrayFromImage(again))

    with pytest.raises(DatasetError):
        generate_cohort(out, 2, ["radiation", "ms"], 3, progress=False)
    with pytest.raises(DatasetError):
        generate_cohort(out, 3, "glioma", 3, progress=False, resume=True)

    # An interrupted run: the second case's files exist but dataset.json never listed it.
    data = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    data["training"] = data["training"][:1]
    (out / "dataset.json").write_text(json.dumps(data))
    before = (out / "imagesTr" / "case_000_0000.nii.gz").stat().st_mtime_ns
    generate_cohort(out, 2, ["radiation", "ms"], 3, progress=False, resume=True)
    dataset = load_dataset(out)
    assert [c.name for c in dataset.cases] == ["case_000", "case_001"]
    assert dataset.cases[1].metadata["seed"] == case_seed(3, 1)
    assert (out / "imagesTr" / "case_000_0000.nii.gz").stat().st_mtime_ns == before


def test_cli_synth(tmp_path):
    from RadioWMHSegLib.cli import main

    out = tmp_path / "cli"
    assert main(["synth", str(out), "--n", "1", "--phenotype", "glioma", "--seed", "2", "--quiet"]) == 0
    dataset = load_dataset(out)
    assert dataset.cases[0].metadata["phenotype"] == "glioma"
    assert main(["synth", str(out), "--n", "1", "--quiet"]) == 1  # refuses a non-empty folder


def test_a_severity_range_gives_severe_cases_and_is_recorded(tmp_path):
    from RadioWMHSegLib.cli import main

    out = tmp_path / "severe"
    # Default severity draws are mostly mild to moderate (beta, mean 0.4): a range gives severe cohorts.
    assert main(["synth", str(out), "--n", "1", "--seed", "5", "--severity", "0.9", "1.0", "--quiet"]) == 0
    dataset = load_dataset(out)
    assert 0.9 <= dataset.cases[0].metadata["lesions"]["severity"] <= 1.0
    assert json.loads((out / "dataset.json").read_text(encoding="utf-8"))["generator"]["severity"] == [0.9, 1.0]
    # Resuming with another range would mix two cohorts in one folder.
    with pytest.raises(DatasetError, match="other settings"):
        generate_cohort(out, 2, "radiation", 5, progress=False, resume=True, severity=(0.1, 0.2))
    assert main(["synth", str(tmp_path / "fixed"), "--n", "1", "--severity", "0.7", "--quiet"]) == 0  # one value
    assert load_dataset(tmp_path / "fixed").cases[0].metadata["lesions"]["severity"] == pytest.approx(0.7)


def test_a_glioma_with_a_severity_has_that_wmh_beside_an_unchanged_tumour():
    # Severe confluent WMH and oedema are both large and bright: the network must see them in one brain.
    _, default_label, default_metadata = generate_case(6, "glioma", thick_slice_probability=0.0)
    _, severe_label, metadata = generate_case(6, "glioma", thick_slice_probability=0.0, severity=0.9)
    default, severe = sitk.GetArrayFromImage(default_label), sitk.GetArrayFromImage(severe_label)
    assert metadata["lesions"]["radiation"]["severity"] == pytest.approx(0.9)
    assert (severe == 1).sum() > 4 * max(1, (default == 1).sum())
    assert (severe == 2).sum() > 0
    # The tumour is drawn before the WMH: the same seed places the same one.
    for key in ("centre_index_zyx", "core_radius_mm", "oedema_mm", "resected"):
        assert metadata["lesions"][key] == default_metadata["lesions"][key]


@pytest.mark.parametrize("severity, phenotype, message", [
    ((0.8, 0.2), "radiation", "LOW HIGH"), ((0.5, 1.5), "radiation", "within 0..1"), ((0.1, 0.2, 0.3), "radiation", "LOW HIGH"),
    (0.5, "ms", "radiation-induced WMH")])
def test_a_bad_severity_is_refused_before_anything_is_written(tmp_path, severity, phenotype, message):
    with pytest.raises(InputError, match=message):
        generate_cohort(tmp_path / "out", 1, phenotype, 0, progress=False, severity=severity)
    assert not (tmp_path / "out").exists()


def test_a_wmh_contrast_range_makes_faint_wmh_and_changes_nothing_else(tmp_path):
    from RadioWMHSegLib.cli import main

    # Faint confluent WMH is what the model misses: a cohort of it must be askable, and be the same
    # cases as without the option but for the WMH's brightness.
    out = tmp_path / "faint"
    assert main(["synth", str(out), "--n", "1", "--seed", "5", "--severity", "0.8", "--wmh-contrast", "1.05", "1.1",
                 "--thick-slice-probability", "0", "--no-hard-negatives", "--quiet"]) == 0
    faint_case = load_dataset(out).cases[0]
    assert 1.05 <= faint_case.metadata["contrast"]["wmh"] <= 1.1
    assert json.loads((out / "dataset.json").read_text(encoding="utf-8"))["generator"]["wmh_contrast"] == [1.05, 1.1]
    with pytest.raises(DatasetError, match="other settings"):
        generate_cohort(out, 2, "radiation", 5, progress=False, resume=True, severity=0.8, wmh_contrast=1.5,
                        thick_slice_probability=0.0, hard_negatives=False)
    seed = case_seed(5, 0)
    default_image, default_label, default_metadata = generate_case(seed, "radiation", severity=0.8,
                                                                   thick_slice_probability=0.0, hard_negatives=False)
    faint = sitk.GetArrayFromImage(sitk.ReadImage(str(faint_case.image_path)))
    default, label = sitk.GetArrayFromImage(default_image), sitk.GetArrayFromImage(default_label)
    assert np.array_equal(label, sitk.GetArrayFromImage(sitk.ReadImage(str(faint_case.label_path))))
    lesion = label == 1
    assert np.median(faint[lesion]) < np.median(default[lesion]) * 0.9  # the default draw is 1.2 or more
    # Only the WMH and its sub-threshold soft edge change (the soft map paints a halo under 0.5), and only darker.
    change = default - faint
    assert change.min() > -1e-3
    assert change[ndimage.distance_transform_edt(label == 0) <= 3].sum() > 0.9 * change.sum()
    assert faint_case.metadata["contrast"]["gm"] == default_metadata["contrast"]["gm"]


@pytest.mark.parametrize("contrast", [(1.2, 1.1), (0.9, 1.1), (1.1, 3.0), (1.1, 1.2, 1.3)])
def test_a_bad_wmh_contrast_is_refused_before_anything_is_written(tmp_path, contrast):
    with pytest.raises(InputError, match="WMH brightness over white matter"):
        generate_cohort(tmp_path / "out", 1, "radiation", 0, progress=False, wmh_contrast=contrast)
    assert not (tmp_path / "out").exists()


def test_hard_negatives_are_bright_normal_structures_outside_the_label(monkeypatch):
    from RadioWMHSegLib.synth import mimics

    monkeypatch.setattr(mimics, "PROBABILITY", {name: 1.0 for name in mimics.PAINTERS})
    monkeypatch.setattr(mimics, "WHITE_MATTER_PROBABILITY", 1.0)
    with_mimics = generate_case(21, "ms", thick_slice_probability=0.0)
    without = generate_case(21, "ms", thick_slice_probability=0.0, hard_negatives=False)
    (image, label), (plain, plain_label) = _arrays(with_mimics), _arrays(without)
    drawn = with_mimics[2]["hard_negatives"]
    assert set(drawn) == set(mimics.PAINTERS) | {"bright_white_matter"}, drawn
    assert all(d["voxels"] > 0 for d in drawn.values()), drawn
    # Same lesions, contrast, deformation and acquisition: only the mimics were added, with label 0.
    assert np.array_equal(label, plain_label)
    for key in ("contrast", "deformation", "acquisition", "lesions"):
        assert with_mimics[2][key] == without[2][key], key
    change = image - plain
    painted = np.abs(change) > 0.05 * with_mimics[2]["contrast"]["wm_level"]
    assert painted.sum() > 1000 and (painted & (label == 1)).sum() < 0.02 * painted.sum()
    assert change[painted].mean() > 0  # brighter than the normal tissue they replace
    assert without[2]["hard_negatives"] is None


def test_bright_white_matter_is_faint_deep_and_leaves_the_other_mimics_as_they_were(monkeypatch):
    from RadioWMHSegLib.synth import mimics
    from RadioWMHSegLib.synth.anatomy import template_anatomy
    from RadioWMHSegLib.synth.lesions import LesionMaps

    # Normal white matter a little brighter than the rest: what a model taught faint WMH took for WMH on
    # real scans. Its own stream: adding it (generator 4) left every other mimic of a seed as it was.
    anatomy = template_anatomy()
    empty = np.zeros(anatomy.wm.shape, np.float32)
    lesions = LesionMaps(empty, empty, empty, empty)
    flat = np.where(anatomy.brain > 0, 1.0, 0.0).astype(np.float32)
    monkeypatch.setattr(mimics, "PROBABILITY", {name: 1.0 for name in mimics.PAINTERS})
    drawn, images = {}, {}
    for probability in (0.0, 1.0):
        monkeypatch.setattr(mimics, "WHITE_MATTER_PROBABILITY", probability)
        images[probability] = flat.copy()
        drawn[probability] = mimics.add_mimics(images[probability], 8, anatomy, lesions, {"gm": 1.2})
    white = drawn[1.0].pop("bright_white_matter")
    assert drawn[1.0] == drawn[0.0]
    assert 1.03 <= white["level"] <= 1.12 and white["voxels"] > 20000  # broad: this seed paints over 20 mL
    brighter = images[1.0] - images[0.0] > 0.01
    assert (anatomy.wm[brighter] > 0.5).mean() > 0.95 and (anatomy.cortex_distance[brighter] >= 2.0).all()


def test_hard_negatives_never_paint_over_a_lesion(monkeypatch):
    from RadioWMHSegLib.synth import mimics
    from RadioWMHSegLib.synth.anatomy import template_anatomy
    from RadioWMHSegLib.synth.lesions import LesionMaps

    monkeypatch.setattr(mimics, "PROBABILITY", {name: 1.0 for name in mimics.PAINTERS})
    anatomy = template_anatomy()
    shape = anatomy.wm.shape
    wmh = np.zeros(shape, np.float32)
    wmh[:, :, : shape[2] // 2] = 1.0  # one whole half of the brain is "lesion"
    empty = np.zeros(shape, np.float32)
    image = np.where(anatomy.brain > 0, 1.0, 0.0).astype(np.float32)
    before = image.copy()
    drawn = mimics.add_mimics(image, 3, anatomy, LesionMaps(wmh, empty, empty, empty), {"gm": 1.2})
    assert drawn and np.array_equal(image[:, :, : shape[2] // 2], before[:, :, : shape[2] // 2])
    assert not np.array_equal(image[:, :, shape[2] // 2 + 1:], before[:, :, shape[2] // 2 + 1:])
