"""Training: preprocessing cache, sampling, augmentation, trainer outputs, exact resume, DDP on gloo."""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tiny_datasets import TINY_SHAPE, make_tiny_dataset, tiny_case, tiny_options

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny", 4, seed=1, with_other=True)


# ----------------------------------------------------------------------------- preprocessing cache


def test_cache_is_written_once_and_reused(tiny_dataset, tmp_path):
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.training.preprocess_dataset import RECORD_FILE, preprocess_dataset

    dataset = load_dataset(tiny_dataset)
    cached = preprocess_dataset(dataset, tmp_path / "cache", grid="as_is")
    assert [c.name for c in cached] == [c.name for c in dataset.cases]
    image, label, brain = cached[0].load()
    assert image.dtype == np.float16 and label.dtype == np.uint8 and image.shape == TINY_SHAPE
    assert np.all(image[brain == 0] == 0)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(dataset.cases[0].label_path)))
    np.testing.assert_array_equal(label, reference)
    inside = image[brain > 0].astype(np.float32)
    assert abs(float(np.median(inside))) < 2.0  # normalised, not raw ~300
    record = json.loads((tmp_path / "cache" / RECORD_FILE).read_text(encoding="utf-8"))
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.npz")}
    preprocess_dataset(dataset, tmp_path / "cache", grid="as_is")
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.npz")} == stamps
    assert json.loads((tmp_path / "cache" / RECORD_FILE).read_text(encoding="utf-8")) == record


def test_cache_redoes_a_changed_case(tmp_path):
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.training.preprocess_dataset import preprocess_dataset

    path = make_tiny_dataset(tmp_path / "ds", 2, seed=5)
    dataset = load_dataset(path)
    cached = preprocess_dataset(dataset, tmp_path / "cache", grid="as_is")
    before = cached[1].load()[1].copy()
    new_image, new_label = tiny_case(99)
    sitk.WriteImage(new_label, str(dataset.cases[1].label_path))
    os.utime(dataset.cases[1].label_path, ns=(1, 1))  # a different stamp even on coarse clocks
    after = preprocess_dataset(dataset, tmp_path / "cache", grid="as_is")[1].load()[1]
    np.testing.assert_array_equal(after, sitk.GetArrayFromImage(new_label))
    assert not np.array_equal(before, after)


def test_mni_case_off_the_crop_grid_is_resampled_onto_it(tmp_path):
    from RadioWMHSegLib import templates
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.training.preprocess_dataset import preprocess_dataset

    image, label = tiny_case(7, shape=(40, 48, 40))
    for item in (image, label):
        item.SetSpacing((2.0, 2.0, 2.0))
        item.SetOrigin((-40.0, -50.0, -30.0))
    from RadioWMHSegLib.datasets import add_case, create_dataset

    create_dataset(tmp_path / "coarse", space="MNI152NLin2009cSym", skull_stripped=True)
    add_case(tmp_path / "coarse", "c0", image, label)
    cached = preprocess_dataset(load_dataset(tmp_path / "coarse"), tmp_path / "cache", grid="crop")
    crop_image, crop_label, crop_brain = cached[0].load()
    assert crop_image.shape == templates.crop_shape_zyx() == crop_label.shape
    # 2 mm voxels become 8 voxels of 1 mm: lesion volume is kept within resampling error.
    ratio = np.count_nonzero(crop_label == 1) / (8 * np.count_nonzero(sitk.GetArrayFromImage(label) == 1))
    assert 0.7 < ratio < 1.3
    assert crop_brain.sum() > 0


# ----------------------------------------------------------------------------- sampling and augmentation


def test_sampling_is_biased_to_lesions_and_deterministic():
    from RadioWMHSegLib.training.sampling import prepare_case, sample_region

    image, label = (sitk.GetArrayFromImage(i) for i in tiny_case(2))
    case = prepare_case("c", "d", image.astype(np.float16), label, (image > 0).astype(np.uint8), (1,))
    regions = [sample_region({"d": [case]}, (8, 8, 8), np.random.default_rng([1, i]), 1.0) for i in range(20)]
    assert all(r[1][4, 4, 4] == 1 for r in regions)  # always centred on a lesion voxel
    again = sample_region({"d": [case]}, (8, 8, 8), np.random.default_rng([1, 3]), 1.0)
    np.testing.assert_array_equal(again[0], regions[3][0])
    plain = [sample_region({"d": [case]}, (8, 8, 8), np.random.default_rng([2, i]), 0.0) for i in range(40)]
    assert sum(r[1][4, 4, 4] == 1 for r in plain) < 20


def _one_voxel_case(name, dataset):
    from RadioWMHSegLib.training.sampling import prepare_case

    image, label = np.ones((6, 6, 6), np.float16), np.zeros((6, 6, 6), np.uint8)
    label[3, 3, 3] = 1
    return prepare_case(name, dataset, image, label, np.ones_like(label), (1,))


def test_datasets_are_drawn_by_their_weights_and_equally_as_before_without():
    from RadioWMHSegLib.training.sampling import sample_region

    by_dataset = {"a@x": [_one_voxel_case("a0", "a"), _one_voxel_case("a1", "a")], "b@y": [_one_voxel_case("b0", "b")],
                  "c@z": [_one_voxel_case("c0", "c")]}
    # Without weights a seed draws the cases it drew before weights existed (recorded from that version), so a
    # run resumed or repeated from then gets the same patches.
    drawn = [sample_region(by_dataset, (4, 4, 4), np.random.default_rng([5, i]))[2] for i in range(12)]
    assert drawn == ["c0", "a1", "c0", "c0", "c0", "b0", "a1", "a1", "b0", "c0", "b0", "b0"]
    weights = {"a@x": 0.7, "b@y": 0.1, "c@z": 0.2}
    drawn = [sample_region(by_dataset, (4, 4, 4), np.random.default_rng([6, i]), weights=weights)[2][0]
             for i in range(2000)]
    for dataset, weight in (("a", 0.7), ("b", 0.1), ("c", 0.2)):
        assert abs(drawn.count(dataset) / len(drawn) - weight) < 0.04


def test_the_target_share_is_split_over_target_and_source_datasets():
    from types import SimpleNamespace

    from RadioWMHSegLib.training.data import dataset_weights

    def dataset(name):
        return SimpleNamespace(name=name, path=f"/d/{name}")

    real, synth_a, synth_b = dataset("real"), dataset("synth_a"), dataset("synth_b")
    training = [("target", real, "c1"), ("target", real, "c2"), ("source", synth_a, "c3"), ("source", synth_b, "c4")]
    assert dataset_weights(training, 0.5) == {"real@/d/real": 0.5, "synth_a@/d/synth_a": 0.25,
                                              "synth_b@/d/synth_b": 0.25}
    assert dataset_weights(training, None) is None  # equal weights, the draw of earlier versions
    assert dataset_weights(training[:2], 0.5) is None  # no source to share with


@pytest.mark.parametrize("share, sources, message", [(0.5, [], "needs source datasets"),
                                                     (1.0, ["s"], "between 0 and 1"), (0.0, ["s"], "between 0 and 1")])
def test_a_bad_target_share_is_a_clear_error(share, sources, message, tmp_path):
    from RadioWMHSegLib.errors import InputError
    from RadioWMHSegLib.training.config import TrainConfig, check_config

    with pytest.raises(InputError, match=message):
        check_config(TrainConfig(datasets=["t"], run_dir=str(tmp_path), source_datasets=sources, target_share=share))


def test_augmentation_keeps_labels_integer_and_follows_its_seed():
    from RadioWMHSegLib.training.augmentation import Augmenter, margin_for

    patch = (16, 16, 16)
    region = tuple(p + 2 * m for p, m in zip(patch, margin_for(patch)))
    image, label = (sitk.GetArrayFromImage(i) for i in tiny_case(4, shape=region))
    augment = Augmenter(patch, {"p_affine": 1.0, "p_flip_lr": 1.0, "p_noise": 1.0})
    out_image, out_label = augment(image, label, seed=11)
    assert out_image.shape == patch and out_label.shape == patch and out_label.dtype == np.uint8
    assert set(np.unique(out_label)) <= {0, 1}
    again = augment(image, label, seed=11)
    np.testing.assert_array_equal(out_image, again[0])
    assert not np.array_equal(out_image, augment(image, label, seed=12)[0])


# ----------------------------------------------------------------------------- the trainer


def test_label2_modes_give_the_right_targets():
    import torch

    from RadioWMHSegLib.training.loss import targets_for

    label = torch.tensor([0, 1, 2], dtype=torch.uint8).view(1, 1, 3, 1, 1)
    fg, valid = targets_for(label, "foreground")
    assert fg.flatten().tolist() == [0, 1, 1] and valid.flatten().tolist() == [1, 1, 1]
    bg, _ = targets_for(label, "background")
    assert bg.flatten().tolist() == [0, 1, 0]
    _, valid = targets_for(label, "ignore")
    assert valid.flatten().tolist() == [1, 1, 0]


def test_ignored_voxels_do_not_change_the_loss():
    import torch

    from RadioWMHSegLib.training.loss import DiceCELoss, targets_for

    torch.manual_seed(0)
    logits = torch.randn(1, 2, 4, 4, 4)
    label = torch.zeros(1, 1, 4, 4, 4, dtype=torch.uint8)
    label[0, 0, :2] = 1
    label[0, 0, 3] = 2
    loss = DiceCELoss()
    first = loss(logits, *targets_for(label, "ignore"))
    changed = logits.clone()
    changed[:, :, 3] = torch.randn(1, 2, 4, 4) * 10  # only voxels of label 2
    assert torch.allclose(first, loss(changed, *targets_for(label, "ignore")))
    assert not torch.allclose(first, loss(changed, *targets_for(label, "background")))


def test_training_writes_logs_checkpoints_and_a_full_model_card(tiny_dataset, tmp_path):
    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.training.trainer import pretrain

    result = pretrain([tiny_dataset], tmp_path / "run", model_name="tiny", cache_root=tmp_path / "cache",
                      **tiny_options())
    run = tmp_path / "run"
    for name in ("checkpoint_last.pt", "checkpoint_best.pt", "training_log.csv", "training_curves.png",
                 "config.json", "record.json"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "training_log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and [int(r["step"]) for r in rows] == [2, 4]
    assert all(0.0 <= float(r["val_dice"]) <= 1.0 and float(r["loss"]) > 0 for r in rows)
    assert (run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    loaded = model_io.load_model(result.model_dir)
    card = loaded.card
    assert card["architecture"]["config"]["channels"] == [4, 8, 16]
    data = card["training"]["datasets"][0]
    assert data["cases"] == 3 and data["phenotypes"] == {"tiny": 3}
    assert card["training"]["validation_cases"] == ["case_003"]
    recipe = card["training"]["recipe"]
    assert recipe["patch_size"] == [16, 16, 16] and recipe["seed"] == 3 and recipe["precision"] == "fp32"
    assert recipe["label2"] == "background" and recipe["strategy"] == "scratch"
    assert card["training"]["steps_done"] == 4 and card["parent"] is None
    assert card["metrics"]["validation_dice"] == pytest.approx(max(float(r["val_dice"]) for r in rows), abs=1e-5)
    # A second training with the same name gets a new folder, never the first one's.
    again = pretrain([tiny_dataset], tmp_path / "run2", model_name="tiny", models_dir=run,
                     cache_root=tmp_path / "cache", **tiny_options(epochs=1))
    assert again.model_dir != result.model_dir and again.model_dir.name == "tiny_v2"
    assert model_io.sha256_of(result.model_dir / "model.pt") == card["weights_sha256"]
    # The card travels: folders are named, never given as this machine's paths.
    assert (data["path"], card["training"]["run_dir"]) == ("tiny", "run")
    assert str(tmp_path) not in (result.model_dir / "model.json").read_text(encoding="utf-8")
    assert str(tiny_dataset.parent) not in (result.model_dir / "model.json").read_text(encoding="utf-8")


def test_a_used_run_folder_needs_resume(tiny_dataset, tmp_path):
    from RadioWMHSegLib.errors import InputError
    from RadioWMHSegLib.training.trainer import pretrain

    options = tiny_options(epochs=1, steps_per_epoch=1, val_cases=0)
    pretrain([tiny_dataset], tmp_path / "run", cache_root=tmp_path / "cache", **options)
    with pytest.raises(InputError, match="--resume"):
        pretrain([tiny_dataset], tmp_path / "run", cache_root=tmp_path / "cache", **options)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_dataset, tmp_path):
    import torch

    from RadioWMHSegLib.training.trainer import pretrain

    # bf16 autocast and channels_last, as the default CPU training runs.
    options = tiny_options(dropout=0.2, cache_root=tmp_path / "cache", precision="bf16", channels_last=True)
    straight = pretrain([tiny_dataset], tmp_path / "straight", **options)
    first = pretrain([tiny_dataset], tmp_path / "split", stop_after_epochs=1, **options)
    assert first.model_dir is None and not first.completed and first.epochs_done == 1
    resumed = pretrain([tiny_dataset], tmp_path / "split", resume=True, **options)
    assert resumed.completed and resumed.epochs_done == 2
    a = torch.load(tmp_path / "straight" / "checkpoint_last.pt", weights_only=False)
    b = torch.load(tmp_path / "split" / "checkpoint_last.pt", weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    assert straight.history[-1]["val_dice"] == resumed.history[-1]["val_dice"]
    # Resuming a finished run does nothing and returns its model.
    again = pretrain([tiny_dataset], tmp_path / "split", resume=True, **options)
    assert again.model_dir == resumed.model_dir


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_on_gloo_trains_and_writes_one_model(tiny_dataset, tmp_path):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master-port", str(_free_port()),
        "-m", "RadioWMHSegLib", "pretrain", str(tiny_dataset), "-o", str(tmp_path / "run"),
        "--epochs", "1", "--steps-per-epoch", "2", "--patch-size", "16", "--batch-size", "1",
        "--channels", "4", "8", "16", "--convs", "1", "1", "1", "--val-cases", "1", "--grid", "as_is",
        "--device", "cpu", "--precision", "fp32", "--no-channels-last", "--cache-dir", str(tmp_path / "cache"),
        "--no-progress", "--name", "ddp",
    ]
    python_path = os.pathsep.join(p for p in (str(REPOSITORY), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=python_path)
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    models = [p for p in (tmp_path / "run").iterdir() if (p / "model.json").exists()]
    assert [p.name for p in models] == ["ddp"]
    card = json.loads((models[0] / "model.json").read_text(encoding="utf-8"))
    assert card["training"]["recipe"]["world_size"] == 2
    assert card["training"]["patches_seen"] == 2 * 1 * 2
    rows = list(csv.DictReader((tmp_path / "run" / "training_log.csv").open()))
    assert len(rows) == 1  # written by rank 0 only


def test_patience_ends_training_at_the_validation_plateau_and_keeps_the_best_weights(tiny_dataset, tmp_path,
                                                                                       monkeypatch):
    import torch

    from RadioWMHSegLib.training import checkpoints, trainer

    # Validation Dice that peaks at epoch 2: with patience 2 the run ends after epoch 4 of 10.
    scores = iter([0.30, 0.50, 0.45, 0.40, 0.35, 0.33, 0.31, 0.30, 0.29, 0.28])
    monkeypatch.setattr(trainer, "validation_dice", lambda *args, **kwargs: next(scores))
    run = tmp_path / "run"
    result = trainer.pretrain([tiny_dataset], run, model_name="tiny", cache_root=tmp_path / "cache",
                              **tiny_options(epochs=10, steps_per_epoch=1, patience=2))
    assert result.completed and result.epochs_done == 4 and result.model_dir is not None
    rows = list(csv.DictReader((run / "training_log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    record = json.loads((run / "record.json").read_text(encoding="utf-8"))
    assert record["completed"] and record["best_epoch"] == 2 and record["epochs_done"] == 4
    saved = torch.load(result.model_dir / "model.pt", map_location="cpu", weights_only=True)
    best = checkpoints.best_weights(run)
    assert all(torch.equal(saved[k], best[k]) for k in best)
    # Finished is finished: a resumed call trains nothing more.
    again = trainer.pretrain([tiny_dataset], run, model_name="tiny", cache_root=tmp_path / "cache", resume=True,
                             **tiny_options(epochs=10, steps_per_epoch=1, patience=2))
    assert again.model_dir == result.model_dir and again.epochs_done == 4


def test_validation_on_unused_cases_never_takes_the_fold_val_cases(tmp_path):
    from RadioWMHSegLib.dataset_split import make_splits
    from RadioWMHSegLib.training.config import TrainConfig
    from RadioWMHSegLib.training.data import split_cases

    dataset = make_tiny_dataset(tmp_path / "five", 5, seed=4)
    folds = make_splits(dataset, folds=5, seed=0)["folds"]
    from RadioWMHSegLib.datasets import load_dataset

    loaded = load_dataset(dataset)

    class Cached:  # split_cases needs only names
        def __init__(self, name):
            self.name = name

    prepared = [("target", loaded, [Cached(c.name) for c in loaded.cases])]
    config = TrainConfig(datasets=[str(dataset)], run_dir=str(tmp_path), fold=2, first_cases=1, val_cases=3,
                         val_on_unused=True)
    training, validation, _ = split_cases(config, prepared)
    assert [c.name for _, _, c in training] == folds[2]["train"][:1]
    assert [c.name for c in validation] == folds[2]["train"][1:]
    assert not {c.name for c in validation} & set(folds[2]["val"])
    # Without val_on_unused the fold's own val cases validate, as `radiowmhseg finetune --fold` documents.
    config = TrainConfig(datasets=[str(dataset)], run_dir=str(tmp_path), fold=2, first_cases=1, val_cases=1)
    assert [c.name for c in split_cases(config, prepared)[1]] == folds[2]["val"]


def test_a_case_exported_again_counts_once_and_never_validates_against_its_own_copy(tmp_path):
    from RadioWMHSegLib.dataset_split import latest_versions
    from RadioWMHSegLib.datasets import add_case, load_dataset
    from RadioWMHSegLib.training.trainer import pretrain

    dataset = make_tiny_dataset(tmp_path / "site", 3, seed=7)
    image, label = tiny_case(7002)  # case_002's scan, corrected again: exported as case_002_v2
    add_case(dataset, "case_002", image, label)
    add_case(dataset, "renamed", image, label)  # the same scan under another name: a third version
    cases = load_dataset(dataset).cases
    kept, left_out = latest_versions(cases)
    assert [c.name for c in kept] == ["case_000", "case_001", "renamed"]
    assert [c.name for c in left_out] == ["case_002", "case_002_v2"]

    result = pretrain([dataset], tmp_path / "run", model_name="tiny", cache_root=tmp_path / "cache",
                      **tiny_options(epochs=1, steps_per_epoch=1, val_cases=1))
    card = json.loads((result.model_dir / "model.json").read_text(encoding="utf-8"))
    assert card["training"]["validation_cases"] == ["renamed"]
    assert card["training"]["datasets"][0]["cases"] == 2  # case_000 and case_001: no copy of the validated scan
    # Only the latest version was prepared.
    assert sorted(p.stem for p in (tmp_path / "cache" / "site").glob("*.npz")) == ["case_000", "case_001", "renamed"]


def test_unscored_voxels_count_in_neither_the_loss_nor_the_validation_dice(monkeypatch):
    import numpy as np
    import torch

    from RadioWMHSegLib.training.loss import DiceCELoss, targets_for
    from RadioWMHSegLib.training.validation import validation_dice

    label = torch.zeros((1, 1, 4, 4, 4), dtype=torch.uint8)
    label[..., :2, :, :] = 1
    label[..., 3, :, :] = 3  # unscored
    for mode in ("class", "foreground", "background", "ignore"):
        target, valid = targets_for(label, mode)
        assert int(target[label == 3].max()) == 0 and float(valid[label == 3].max()) == 0.0, mode
        assert float(valid[label == 1].min()) == 1.0, mode
    logits = torch.zeros((1, 3, 4, 4, 4))
    logits[:, 1][label[:, 0] == 1] = 9.0
    target, valid = targets_for(label, "class")
    right = DiceCELoss()(logits, target, valid)
    logits[:, 1][label[:, 0] == 3] = 9.0  # WMH called where nothing is scored: the loss must not move
    assert float(DiceCELoss()(logits, target, valid)) == pytest.approx(float(right), abs=1e-6)

    from RadioWMHSegLib import inference

    label_np = label[0, 0].numpy()
    called = ((label_np == 1) | (label_np == 3)).astype(np.float32)  # WMH found, and called where unscored
    monkeypatch.setattr(inference, "predict_probability", lambda net, image, **kw: called)
    assert validation_dice(None, [(np.zeros_like(called), label_np)], "cpu", "fp32", "class") == pytest.approx(1.0)
