"""Training on a dataset made by `radiowmhseg dataset`: fine-tuning and the experiment on one fold of its split, the
per-case preprocessing (skull-stripped flag, the cache per scan), and the latest correction of a case counted once."""

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.cli import main
from RadioWMHSegLib.datasets import add_case, load_dataset

from image_files import small_flair as _flair
from image_files import small_mask as _mask
from image_files import write_image as _write
from tiny_datasets import tiny_dataset_with_split as _tiny_dataset_with_split


# ----------------------------------------------------------------------------- finetune --fold, experiment --fold


@pytest.fixture
def tiny_source_model(tmp_path):
    from tiny_datasets import tiny_model_folder

    return tiny_model_folder(tmp_path / "models")


def test_finetune_on_a_fold_trains_on_its_train_cases_and_validates_on_its_val_cases(tmp_path, tiny_source_model,
                                                                                    capsys):
    from RadioWMHSegLib import model_io

    ds, splits = _tiny_dataset_with_split(tmp_path / "tiny")
    common = ["--epochs", "1", "--steps-per-epoch", "1", "--patch-size", "16", "--grid", "as_is", "--device", "cpu",
              "--precision", "fp32", "--no-channels-last", "--no-progress", "--cache-dir", str(tmp_path / "cache"),
              "--from", str(tiny_source_model), "--models-dir", str(tmp_path / "out_models")]
    for fold in (0, 1):
        assert main(["finetune", str(ds), "-o", str(tmp_path / f"run{fold}"), "--fold", str(fold), *common]) == 0
        assert f"on fold {fold}'s val cases" in capsys.readouterr().out
        card = model_io.read_card(json.loads((tmp_path / f"run{fold}" / "record.json").read_text(encoding="utf-8"))["model_dir"])
        assert card["training"]["fold"] == fold
        # case_001 was exported again: only its latest version, case_001_v2, is trained or validated on.
        latest = lambda names: [n for n in names if n != "case_001"]
        assert card["training"]["validation_cases"] == latest(splits["folds"][fold]["val"])
        assert card["training"]["datasets"][0]["cases"] == len(latest(splits["folds"][fold]["train"]))
    assert main(["finetune", str(ds), "-o", str(tmp_path / "run9"), "--fold", "9", *common]) == 1
    assert "fold 9 does not exist" in capsys.readouterr().err
    # A case added after the split: refused before any preprocessing, with what to do.
    from tiny_datasets import tiny_case

    add_case(ds, "late", *tiny_case(99))
    fresh = [a if a != str(tmp_path / "cache") else str(tmp_path / "fresh_cache") for a in common]
    assert main(["finetune", str(ds), "-o", str(tmp_path / "run_late"), "--fold", "0", *fresh]) == 1
    assert "late are in no fold of splits.json" in capsys.readouterr().err
    assert not (tmp_path / "fresh_cache").exists()
    (ds / "splits.json").unlink()
    assert main(["finetune", str(ds), "-o", str(tmp_path / "runx"), "--fold", "0", *common]) == 1
    assert "no splits.json" in capsys.readouterr().err


def test_experiment_on_a_fold_tests_on_its_val_cases(tmp_path, tiny_source_model):
    from RadioWMHSegLib.training.experiment import run_experiment
    from tiny_datasets import tiny_options

    ds, splits = _tiny_dataset_with_split(tmp_path / "tiny")
    options = tiny_options(epochs=1, steps_per_epoch=1, cache_root=tmp_path / "cache", fold=1)
    for dropped in ("device", "val_cases", "channels", "convs"):
        options.pop(dropped)
    run_experiment([], ds, tmp_path / "exp", n_train=(1,), strategies=("all",), pretrained=tiny_source_model,
                   finetune_options=options, device="cpu")
    rows = list(csv.DictReader((tmp_path / "exp" / "results.csv").open()))
    assert sorted(r["case"] for r in rows) == sorted(splits["folds"][1]["val"])


# ----------------------------------------------------------------------------- per-case skull stripping


def test_native_preprocessing_follows_each_cases_skull_stripped_flag(tmp_path, monkeypatch):
    from RadioWMHSegLib.training import preprocess_dataset as stage

    ds = tmp_path / "ds"
    for name, stripped in (("stripped", True), ("whole_head", False)):
        image = _flair(hash(name) % 100)
        img = _write(image, tmp_path / name / "FLAIR.nii.gz")
        lab = _write(_mask(image), tmp_path / name / "WMH.nii.gz")
        flag = "--skull-stripped" if stripped else "--no-skull-stripped"
        assert main(["dataset", "add", str(ds), str(img), str(lab), "--case", name, flag]) == 0
    calls = []
    monkeypatch.setattr(stage, "_register_native_image", _fake_registration(calls))
    stage.preprocess_dataset(load_dataset(ds), tmp_path / "cache")
    assert sorted(calls) == [False, True]
    # Changing a case's flag redoes that case only.
    data = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    data["training"][1]["skull_stripped"] = True
    (ds / "dataset.json").write_text(json.dumps(data))
    calls.clear()
    stage.preprocess_dataset(load_dataset(ds), tmp_path / "cache")
    assert calls == [True]


def _fake_registration(calls):
    """Stands in for registration + skull strip + N4: records the skull_stripped flag, returns the identity."""
    from RadioWMHSegLib import templates

    def register(image, skull_stripped, device):
        calls.append(skull_stripped)
        shape = templates.crop_shape_zyx()
        identity = sitk.AffineTransform(3)
        return (np.zeros(shape, np.float32), np.ones(shape, np.uint8),
                {"parameters": list(identity.GetParameters()), "fixed": list(identity.GetFixedParameters())})

    return register


def test_a_new_correction_of_a_cached_scan_is_not_registered_again(tmp_path, monkeypatch):
    """Issue 9: preprocessing is cached per scan, so a re-exported correction only maps its new label."""
    from RadioWMHSegLib.training import preprocess_dataset as stage

    ds = tmp_path / "ds"
    image = _flair(7, origin=(-5.0, -5.0, -5.0))
    img = _write(image, tmp_path / "src" / "FLAIR.nii.gz")
    first = _mask(image)
    lab = _write(first, tmp_path / "src" / "WMH.nii.gz")
    assert main(["dataset", "add", str(ds), str(img), str(lab), "--case", "p1", "--no-skull-stripped"]) == 0
    # The annotator's second correction: the same scan (another file), a larger lesion.
    corrected = sitk.GetArrayFromImage(first)
    corrected[3:6, 2:10, 2:10] = 1
    second = sitk.GetImageFromArray(corrected)
    second.CopyInformation(image)
    _write(image, ds / "v2" / "FLAIR.nii.gz")
    _write(second, ds / "v2" / "WMH.nii.gz")
    data = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    data["training"].append({**data["training"][0], "case": "p1_v2", "image": "v2/FLAIR.nii.gz",
                             "label": "v2/WMH.nii.gz"})
    (ds / "dataset.json").write_text(json.dumps(data))

    calls = []
    monkeypatch.setattr(stage, "_register_native_image", _fake_registration(calls))
    cached = stage.preprocess_dataset(load_dataset(ds), tmp_path / "cache")
    assert len(calls) == 1
    labels = [case.load()[1] for case in cached]
    assert 0 < np.count_nonzero(labels[0]) < np.count_nonzero(labels[1])
    assert np.count_nonzero(labels[1]) == np.count_nonzero(corrected)  # identity affine, 1 mm grids
    # Another scan is registered.
    _write(_flair(8, origin=(-5.0, -5.0, -5.0)), ds / "v2" / "FLAIR.nii.gz")
    stage.preprocess_dataset(load_dataset(ds), tmp_path / "cache")
    assert len(calls) == 2



def test_experiment_counts_trains_and_tests_the_latest_correction_of_each_case(tmp_path, tiny_source_model):
    """A case exported twice (case_001, case_001_v2) is one case: never tested twice, and never counted
    as a spare case to validate on when only its latest version is trained on."""
    from RadioWMHSegLib.training.experiment import EVALUATION_FILE, run_experiment
    from tiny_datasets import tiny_options

    ds, splits = _tiny_dataset_with_split(tmp_path / "tiny")
    assert "case_001" in splits["folds"][0]["val"] and "case_001" in splits["folds"][1]["train"]
    for fold in (0, 1):
        options = tiny_options(epochs=1, steps_per_epoch=1, cache_root=tmp_path / "cache", fold=fold, patience=1)
        for dropped in ("device", "val_cases", "channels", "convs"):
            options.pop(dropped)
        out = tmp_path / f"exp{fold}"
        run_experiment([], ds, out, n_train=(1,), strategies=("all",), pretrained=tiny_source_model,
                       finetune_options=options, device="cpu")
        rows = list(csv.DictReader((out / "results.csv").open()))
        evaluation = json.loads((out / "runs" / "N1_all" / EVALUATION_FILE).read_text(encoding="utf-8"))
        if fold == 0:  # val: case_001, case_003, case_001_v2
            assert sorted(r["case"] for r in rows) == ["case_001_v2", "case_003"]
        else:  # train: case_003, case_001_v2, case_001: two cases, one trained on, one left to validate on
            assert evaluation["validation_cases"] == 1
