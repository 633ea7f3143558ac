"""Dataset layout: reading with checks, adding cases with versioning, BraTS and MSD importers."""

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.cli import main
from RadioWMHSegLib.datasets import add_case, create_dataset, import_brats, import_msd, load_dataset, voxel_sha256
from RadioWMHSegLib.errors import DatasetError, InputError


def _volume(shape=(12, 14, 10), value_seed=0, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), dtype=np.float32):
    rng = np.random.default_rng(value_seed)
    image = sitk.GetImageFromArray((rng.random(shape) * 100).astype(dtype))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def _label_like(image, labels=(0, 1, 2)):
    array = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
    for i, value in enumerate(labels):
        array[i + 2, 3:6, 3:6] = value
    label = sitk.GetImageFromArray(array)
    label.CopyInformation(image)
    return label


def test_create_add_load_roundtrip_with_prediction_and_metadata(tmp_path):
    path = create_dataset(tmp_path / "ds", "demo", space="native", skull_stripped=True, description="test")
    image = _volume()
    case = add_case(path, "patient 1", image, _label_like(image), prediction=_label_like(image, (0, 1)),
                    metadata={"site": "A"})
    assert case.name == "patient_1"
    assert case.image_path == path / "imagesTr" / "patient_1_0000.nii.gz"
    assert case.prediction_path == path / "predictionsTr" / "patient_1.nii.gz" and case.prediction_path.is_file()
    dataset = load_dataset(path)
    assert (dataset.name, dataset.space, dataset.skull_stripped) == ("demo", "native", True)
    assert dataset.labels == {"background": 0, "WMH": 1, "other_pathology": 2, "unscored": 3}
    [loaded] = dataset.cases
    assert loaded.metadata == {"site": "A", "base_case": "patient_1", "version": 1,
                               "image_voxels_sha256": voxel_sha256(image)}
    assert loaded.label_path.is_file()
    label = sitk.ReadImage(str(loaded.label_path))
    assert label.GetPixelID() == sitk.sitkUInt8
    assert np.array_equal(sitk.GetArrayFromImage(label), sitk.GetArrayFromImage(_label_like(image)))
    data = json.loads((path / "dataset.json").read_text(encoding="utf-8"))
    assert data["numTraining"] == 1 and data["file_ending"] == ".nii.gz"


def test_add_case_never_overwrites_but_versions(tmp_path):
    path = tmp_path / "ds"  # no dataset.json yet: add_case makes one, space native
    first = _volume(value_seed=1)
    second = _volume(value_seed=2)
    a = add_case(path, "case", first, _label_like(first))
    b = add_case(path, "case", second, _label_like(second))
    c = add_case(path, "case", second, _label_like(second))
    assert [a.name, b.name, c.name] == ["case", "case_v2", "case_v3"]
    # Every version records the case it is a version of, so folds keep them together.
    assert [(x.metadata["base_case"], x.metadata["version"]) for x in (a, b, c)] == [("case", 1), ("case", 2), ("case", 3)]
    assert b.metadata["image_voxels_sha256"] == c.metadata["image_voxels_sha256"] != a.metadata["image_voxels_sha256"]
    kept = sitk.GetArrayFromImage(sitk.ReadImage(str(a.image_path)))
    assert np.array_equal(kept, sitk.GetArrayFromImage(first))
    dataset = load_dataset(path)
    assert dataset.space == "native" and [x.name for x in dataset.cases] == ["case", "case_v2", "case_v3"]


def test_add_case_accepts_paths_and_refuses_mismatched_geometry(tmp_path):
    image = _volume()
    sitk.WriteImage(image, str(tmp_path / "img.nii.gz"))
    sitk.WriteImage(_label_like(image), str(tmp_path / "lab.nii.gz"))
    case = add_case(tmp_path / "ds", "c1", tmp_path / "img.nii.gz", tmp_path / "lab.nii.gz")
    assert case.image_path.is_file()
    shifted = _label_like(_volume(origin=(0.0, 0.0, 2.0)))
    with pytest.raises(InputError, match="c2.*geometry"):
        add_case(tmp_path / "ds", "c2", image, shifted)
    with pytest.raises(InputError):
        add_case(tmp_path / "ds", "c3", tmp_path / "missing.nii.gz", tmp_path / "lab.nii.gz")
    assert len(load_dataset(tmp_path / "ds").cases) == 1


def test_load_dataset_refusals_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="dataset.json"):
        load_dataset(tmp_path)
    path = create_dataset(tmp_path / "ds", "x")
    with pytest.raises(DatasetError, match="already holds"):
        create_dataset(path, "x")
    image = _volume()
    add_case(path, "good", image, _label_like(image))
    add_case(path, "bad", image, _label_like(image))
    # Replace the label of 'bad' by one on another grid: loading must name that case.
    other = _label_like(_volume(spacing=(1.0, 1.0, 1.5)))
    sitk.WriteImage(other, str(path / "labelsTr" / "bad.nii.gz"))
    with pytest.raises(DatasetError, match="case bad.*geometry"):
        load_dataset(path)
    assert len(load_dataset(path, check_geometry=False).cases) == 2
    (path / "labelsTr" / "bad.nii.gz").unlink()
    with pytest.raises(DatasetError, match="case bad.*missing"):
        load_dataset(path)


def test_geometry_tolerance_accepts_float_rounding(tmp_path):
    image = _volume(origin=(10.0, -20.0, 5.0))
    label = _label_like(image)
    label.SetOrigin((10.0 + 1e-4, -20.0, 5.0 - 1e-4))
    add_case(tmp_path / "ds", "c", image, label)
    assert len(load_dataset(tmp_path / "ds").cases) == 1


def _fake_brats(root: Path):
    """Two 2020-style cases, one 2023-style case and one validation case without a segmentation."""
    for name, flair_suffix, seg_suffix in (("BraTS20_Training_001", "_flair", "_seg"),
                                           ("BraTS20_Training_002", "_flair", "_seg"),
                                           ("BraTS-GLI-00003-000", "-t2f", "-seg"),
                                           ("BraTS20_Validation_001", "_flair", None)):
        folder = root / "TrainingData" / name
        folder.mkdir(parents=True)
        image = _volume(value_seed=len(name))
        sitk.WriteImage(image, str(folder / f"{name}{flair_suffix}.nii.gz"))
        sitk.WriteImage(_volume(value_seed=1), str(folder / f"{name}_t1.nii.gz"))  # other modality, ignored
        if seg_suffix:
            sitk.WriteImage(_label_like(image, (1, 2, 4)), str(folder / f"{name}{seg_suffix}.nii.gz"))
    return root


def test_import_brats_binarises_labels(tmp_path):
    out = import_brats(_fake_brats(tmp_path / "brats"), tmp_path / "out", progress=False)
    dataset = load_dataset(out)
    assert dataset.space == "native" and dataset.skull_stripped is True
    assert sorted(c.name for c in dataset.cases) == ["BraTS-GLI-00003-000", "BraTS20_Training_001", "BraTS20_Training_002"]
    for case in dataset.cases:
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(case.label_path)))
        assert set(np.unique(label)) == {0, 1}
        assert (label == 1).sum() == 9 * 3  # labels 1, 2 and 4 all became 1
        image = sitk.ReadImage(str(case.image_path))
        assert image.GetPixelID() == sitk.sitkFloat32
    with pytest.raises(DatasetError, match="already holds a dataset"):
        import_brats(tmp_path / "brats", out, progress=False)
    with pytest.raises(DatasetError, match="no BraTS cases"):
        import_brats(tmp_path / "out", tmp_path / "out2", progress=False)


def _fake_msd(task: Path, n=2):
    (task / "imagesTr").mkdir(parents=True)
    (task / "labelsTr").mkdir()
    for i in range(1, n + 1):
        channels = np.stack([np.full((6, 8, 7), 10.0 * (c + 1) + i, np.float32) for c in range(4)])  # (c, z, y, x)
        image = sitk.JoinSeries([sitk.GetImageFromArray(ch) for ch in channels])  # 4D: x, y, z, channel
        image.SetSpacing((1.0, 1.0, 1.0, 1.0))
        sitk.WriteImage(image, str(task / "imagesTr" / f"BRATS_{i:03d}.nii.gz"))
        label = np.zeros((6, 8, 7), np.uint8)
        label[2:4, 2:5, 2:4] = 3
        label[1, 1, 1] = 1
        sitk.WriteImage(sitk.GetImageFromArray(label), str(task / "labelsTr" / f"BRATS_{i:03d}.nii.gz"))
    (task / "imagesTr" / "._BRATS_001.nii.gz").write_bytes(b"macOS resource fork")
    return task


def test_import_msd_takes_flair_channel(tmp_path):
    out = import_msd(_fake_msd(tmp_path / "Task01_BrainTumour"), tmp_path / "out", progress=False)
    dataset = load_dataset(out)
    assert [c.name for c in dataset.cases] == ["BRATS_001", "BRATS_002"]
    image = sitk.ReadImage(str(dataset.cases[1].image_path))
    assert image.GetDimension() == 3 and image.GetSize() == (7, 8, 6)
    assert np.all(sitk.GetArrayFromImage(image) == 12.0)  # channel 0 (FLAIR) of case 2
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(dataset.cases[0].label_path)))
    assert set(np.unique(label)) == {0, 1} and label.sum() == 13
    with pytest.raises(DatasetError, match="imagesTr"):
        import_msd(tmp_path, tmp_path / "out2", progress=False)


def test_import_can_write_the_tumour_as_other_pathology_and_resumes_only_with_that_label(tmp_path):
    task = _fake_msd(tmp_path / "task", n=2)
    out = import_msd(task, tmp_path / "out", progress=False, tumour_label=2)
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(load_dataset(out).cases[0].label_path)))
    assert set(np.unique(label)) == {0, 2} and (label == 2).sum() == 13
    assert json.loads((out / "dataset.json").read_text(encoding="utf-8"))["tumour_label"] == 2
    # Resuming with the other label would mix the two meanings in one dataset.
    with pytest.raises(DatasetError, match="imported with the tumour as label 2"):
        import_msd(task, out, resume=True, progress=False)
    with pytest.raises(DatasetError, match="is not one of"):
        import_brats(_fake_brats(tmp_path / "brats"), tmp_path / "out3", progress=False, tumour_label=3)
    assert not (tmp_path / "out3").exists()


def test_import_resume_adds_only_missing_cases(tmp_path):
    task = _fake_msd(tmp_path / "task", n=3)
    out = tmp_path / "out"
    import_msd(task, out, progress=False)
    data = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    data["training"] = data["training"][:1]
    (out / "dataset.json").write_text(json.dumps(data))
    import_msd(task, out, resume=True, progress=False)
    assert [c.name for c in load_dataset(out).cases] == ["BRATS_001", "BRATS_002", "BRATS_003"]


def test_import_commands(tmp_path, capsys):
    assert main(["import-brats", str(_fake_brats(tmp_path / "b")), "-o", str(tmp_path / "ob"), "--quiet"]) == 0
    assert main(["import-msd", str(_fake_msd(tmp_path / "m")), "-o", str(tmp_path / "om"), "--quiet"]) == 0
    assert "imported 2 MSD cases" in capsys.readouterr().out
    as_pathology = ["import-brats", str(tmp_path / "b"), "-o", str(tmp_path / "ob2"), "--quiet",
                    "--tumour-as-pathology"]
    assert main(as_pathology) == 0
    assert "tumour = label 2" in capsys.readouterr().out
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(load_dataset(tmp_path / "ob2").cases[0].label_path)))
    assert set(np.unique(label)) == {0, 2}
    assert main(["import-msd", str(tmp_path / "nothing"), "-o", str(tmp_path / "on"), "--quiet"]) == 1
    assert "error:" in capsys.readouterr().err
