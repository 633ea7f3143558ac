"""Label 2 (tumour, oedema, cavity) as a third network output: training, the card, inference, segment and its files."""

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import three_class_model
from phantoms import two_blob_phantom
from RadioWMHSegLib import model_io
from RadioWMHSegLib.errors import ModelError
from RadioWMHSegLib.inference import predict, predict_probability
from RadioWMHSegLib.segment import segment, segment_image
from tiny_datasets import TINY_NET, make_tiny_dataset, tiny_options, tiny_model_folder


@pytest.fixture(scope="module")
def two_blobs():
    return two_blob_phantom()


def test_label2_class_gives_three_class_targets_and_a_loss_over_them():
    import torch

    from RadioWMHSegLib.training.loss import DiceCELoss, n_classes, targets_for

    label = torch.tensor([0, 1, 2, 2, 1, 0], dtype=torch.uint8).reshape(1, 1, 1, 1, 6)
    target, valid = targets_for(label, "class")
    assert target.flatten().tolist() == [0, 1, 2, 2, 1, 0] and bool(valid.all())
    assert (n_classes("class"), n_classes("ignore")) == (3, 2)
    right = torch.nn.functional.one_hot(target[:, 0].long(), 3).movedim(-1, 1).float() * 10
    wrong = right[:, [0, 2, 1]]  # WMH and other pathology swapped
    loss = DiceCELoss()
    assert float(loss(right, target, valid)) < 0.05 < 1.0 < float(loss(wrong, target, valid))


def test_a_three_class_model_trains_names_its_classes_and_predicts_other_pathology(tmp_path):
    from RadioWMHSegLib.training.trainer import pretrain

    dataset = make_tiny_dataset(tmp_path / "tiny", 3, seed=2, with_other=True)
    result = pretrain([dataset], tmp_path / "run", model_name="tiny3", cache_root=tmp_path / "cache",
                      **tiny_options(label2="class", epochs=1, steps_per_epoch=2))
    card = model_io.read_card(result.model_dir)
    assert card["labels"] == ["background", "WMH", "other_pathology"]
    assert card["architecture"]["config"]["out_channels"] == 3 and "3 classes" in card["training"]["recipe"]["loss"]
    loaded = model_io.load_model(result.model_dir)
    array = np.random.default_rng(0).normal(0, 1, (16, 24, 16)).astype(np.float32)
    prediction = predict(loaded.net, array)
    assert prediction.pathology.shape == array.shape
    assert np.all(prediction.wmh + prediction.pathology <= 1.0 + 1e-5)
    assert np.array_equal(predict_probability(loaded.net, array), prediction.wmh)  # still P(WMH)
    model_io.check_pathology_class(result.model_dir)  # no error: the class is there
    with pytest.raises(ModelError, match="no 'other pathology' class"):
        model_io.check_pathology_class(tiny_model_folder(tmp_path / "models", "two-class"))


def test_a_two_class_source_lends_its_background_and_wmh_outputs_to_a_three_class_network(tmp_path):
    import torch

    from RadioWMHSegLib.network import AttentionVNet
    from RadioWMHSegLib.training.transfer import initial_network

    source = AttentionVNet(**TINY_NET)
    folder = model_io.save_model(source, model_io.new_card(source, "two"), tmp_path, "two")
    torch.manual_seed(0)
    net, parent = initial_network("all", {}, folder, out_channels=3)
    assert net.config["out_channels"] == 3 and parent["name"] == "two"
    assert torch.equal(net.output.weight[:2], source.output.weight) and torch.equal(net.output.bias[:2], source.output.bias)
    assert torch.equal(net.encoder[0].convs[0].conv.weight, source.encoder[0].convs[0].conv.weight)


def test_segment_image_with_a_three_class_model_never_calls_wmh_inside_the_pathology(two_blobs, bright_voxel_model):
    result = segment_image(two_blobs, skull_stripped=True, model=three_class_model(), device="cpu", threshold=0.05)
    pathology = sitk.GetArrayFromImage(result.pathology_mask) > 0
    wmh = sitk.GetArrayFromImage(result.mask) > 0
    assert result.pathology_mask.GetSize() == two_blobs.GetSize()
    assert result.pathology_mask.GetPixelID() == sitk.sitkUInt8
    assert np.allclose(result.pathology_mask.GetDirection(), two_blobs.GetDirection())
    assert pathology.sum() > 20 and wmh.sum() > 20  # one blob each
    assert not np.any(wmh & pathology)  # even at a WMH threshold of 0.05
    assert not np.any(pathology & ~(sitk.GetArrayFromImage(result.brain_mask) > 0))
    assert segment_image(two_blobs, skull_stripped=True, model=bright_voxel_model, device="cpu").pathology_mask is None


def test_segment_writes_the_pathology_mask_and_its_volume_or_refuses_before_any_work(tmp_path, two_blobs,
                                                                                     bright_voxel_model, monkeypatch):
    from RadioWMHSegLib import segment as segment_module

    flair = tmp_path / "case.nii.gz"
    sitk.WriteImage(two_blobs, str(flair))
    segment(flair, tmp_path / "wmh.nii.gz", pathology_mask=tmp_path / "other.nii.gz", stats=tmp_path / "s.json",
            skull_stripped=True, model=three_class_model(), device="cpu")
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "other.nii.gz")))
    volume = written.sum() * np.prod(two_blobs.GetSpacing()) / 1000.0
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["other_pathology"]["volume_ml"] == pytest.approx(volume, abs=1e-3)
    monkeypatch.setattr(segment_module, "segment_image", lambda *a, **k: pytest.fail("work began before the check"))
    with pytest.raises(ModelError, match="no 'other pathology' class"):
        segment(flair, tmp_path / "b.nii.gz", pathology_mask=tmp_path / "b_other.nii.gz", model=bright_voxel_model)
    assert not (tmp_path / "b.nii.gz").exists()


def test_the_command_line_refuses_a_pathology_mask_of_a_two_class_model_in_one_line(tmp_path, two_blobs):
    flair = tmp_path / "case.nii.gz"
    sitk.WriteImage(two_blobs, str(flair))
    model = tiny_model_folder(tmp_path / "models", "two-class")
    out = subprocess.run([sys.executable, "-m", "RadioWMHSegLib", "segment", str(flair), "-o", str(tmp_path / "w.nii.gz"),
                          "--model", str(model), "--pathology-mask", str(tmp_path / "p.nii.gz")],
                         capture_output=True, text=True, timeout=300)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1 and "other pathology" in lines[0], out.stderr
    assert not (tmp_path / "w.nii.gz").exists()
