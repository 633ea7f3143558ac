"""Label 2 (tumour, oedema, cavity) as a third network output: training, the card, inference, segment and its files."""

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import three_class_model
from phantoms import add_bright_blob, flair_like_template, native_grid, to_native, two_blob_phantom
from RadioWMHSegLib import model_io
from RadioWMHSegLib.errors import ModelError
from RadioWMHSegLib.inference import predict, predict_probability
from RadioWMHSegLib.segment import exclude_pathology_rim, segment, segment_image
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


def _blob_across_the_divide(radius_mm):
    """segment_image of one blob across the stand-in's divide: WMH on one half, other pathology on the other,
    touching. Returns (pathology, wmh, distance in mm from the pathology, the result)."""
    from scipy import ndimage

    image, _ = add_bright_blob(flair_like_template(), (97, 120, 100), radius_mm=radius_mm)
    image = to_native(image, native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6)))
    result = segment_image(image, skull_stripped=True, model=three_class_model(), device="cpu")
    pathology = sitk.GetArrayFromImage(result.pathology_mask) > 0
    wmh = sitk.GetArrayFromImage(result.mask) > 0
    distance_mm = ndimage.distance_transform_edt(~pathology, sampling=image.GetSpacing()[::-1])
    return pathology, wmh, distance_mm, result


def test_segment_image_calls_no_wmh_on_the_rim_of_a_tumour_sized_pathology_region():
    pathology, wmh, distance_mm, result = _blob_across_the_divide(radius_mm=16.0)
    voxel_ml = 2.4 * 2.4 * 2.6 / 1000.0
    assert pathology.sum() * voxel_ml > 5.0 and wmh.sum() * voxel_ml > 1.0  # a tumour-sized half: it has a rim
    assert distance_mm[wmh].min() > 4.0
    assert result.record["stages"][-1]["parameters"]["wmh_excluded_within_mm_of_pathology"] == 4.0


def test_a_speck_of_pathology_inside_wmh_gets_no_rim():
    # As the network's false specks of 'other pathology' inside the WMH of MS scans: under 5 mL, no rim.
    pathology, wmh, distance_mm, _ = _blob_across_the_divide(radius_mm=6.0)
    assert 0 < pathology.sum() * 2.4 * 2.4 * 2.6 / 1000.0 < 5.0
    assert not np.any(wmh & pathology)  # the speck itself is never WMH
    assert distance_mm[wmh].min() < 4.0  # but the WMH beside it stays


def _image_with_spacing(spacing):
    def image(array):
        result = sitk.GetImageFromArray(array)
        result.SetSpacing(spacing)
        return result

    return image


def test_wmh_is_not_called_on_the_pathology_rim_in_mm_nor_where_pathology_is_fairly_likely():
    # One pathology voxel on an anisotropic grid (x 0.5 mm, y 1 mm, z 3 mm); every voxel is WMH-positive.
    shape = (5, 20, 40)  # z, y, x
    pathology_mask = np.zeros(shape, np.uint8)
    pathology_mask[2, 10, 20] = 1
    probability = np.where(pathology_mask > 0, 0.9, 0.0).astype(np.float32)
    probability[0, 0, 0], probability[0, 0, 1] = 0.35, 0.25  # far from the mask: a region of its own

    image = _image_with_spacing((0.5, 1.0, 3.0))

    # min_region_ml 0: the rim around any region, however small (segment_image gives it to regions >= 5 mL).
    wmh = sitk.GetArrayFromImage(exclude_pathology_rim(image(np.ones(shape, np.uint8)), image(probability),
                                                       image(pathology_mask), min_region_ml=0.0))
    assert wmh[2, 10, 20] == 0  # the pathology itself
    assert wmh[2, 10, 28] == 0 and wmh[2, 10, 29] == 1  # 4.0 mm along x is the rim, 4.5 mm is not
    assert wmh[2, 14, 20] == 0 and wmh[2, 15, 20] == 1  # 4 mm and 5 mm along y
    assert wmh[3, 10, 20] == 0 and wmh[4, 10, 20] == 1  # 3 mm and 6 mm along z: millimetres, not voxels
    assert wmh[0, 0, 0] == 0 and wmh[0, 0, 1] == 1  # P(other pathology) 0.35 and 0.25
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    distance_mm = np.sqrt(((z - 2) * 3.0) ** 2 + (y - 10) ** 2 + ((x - 20) * 0.5) ** 2)
    expected = distance_mm > 4.0
    expected[0, 0, 0] = False
    assert wmh.dtype == np.uint8 and np.array_equal(wmh > 0, expected)


def test_only_regions_of_the_minimum_size_get_a_rim_and_their_fairly_likely_surroundings():
    shape = (10, 40, 40)  # 1 mm voxels
    mask = np.zeros(shape, np.uint8)
    mask[2:8, 5:15, 5:15] = 1  # a region of 0.6 mL
    mask[5, 30, 30] = 1  # a speck
    probability = np.where(mask > 0, 0.9, 0.0).astype(np.float32)
    probability[2:8, 15:25, 5:15] = 0.35  # fairly likely, connected to the region, reaching 10 mm beyond it
    probability[5, 35, 5] = 0.35  # fairly likely, on its own

    image = _image_with_spacing((1.0, 1.0, 1.0))

    wmh = sitk.GetArrayFromImage(exclude_pathology_rim(image(np.ones(shape, np.uint8)), image(probability),
                                                       image(mask), min_region_ml=0.5))
    assert not np.any(wmh[mask > 0])  # inside the mask: never WMH, speck included
    assert wmh[5, 10, 18] == 0 and wmh[5, 10, 19] == 1  # the region's rim: 4 mm out, not 5
    assert wmh[5, 24, 10] == 0 and wmh[5, 26, 10] == 1  # its fairly likely surroundings, 10 mm out, and past them
    assert wmh[5, 30, 31] == 1 and wmh[5, 31, 30] == 1  # the speck: no rim
    assert wmh[5, 35, 5] == 1  # fairly likely but apart from any region of the size
    everywhere = sitk.GetArrayFromImage(exclude_pathology_rim(image(np.ones(shape, np.uint8)), image(probability),
                                                              image(mask), min_region_ml=0.0))
    assert everywhere[5, 30, 31] == 0 and everywhere[5, 35, 5] == 0  # with no minimum, every region has a rim


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


def test_the_png_report_outlines_the_pathology_beside_the_wmh(tmp_path, monkeypatch):
    from RadioWMHSegLib import overlay_png

    drawn = {}
    real_save = overlay_png.save_overlay_png

    def spy(image, mask, path, **options):
        drawn.update(options.get("extra_masks") or {})
        return real_save(image, mask, path, **options)

    monkeypatch.setattr(overlay_png, "save_overlay_png", spy)
    image, _ = add_bright_blob(flair_like_template(), (97, 120, 100), radius_mm=16.0)
    flair = tmp_path / "case.nii.gz"
    sitk.WriteImage(to_native(image, native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6))), str(flair))
    result = segment(flair, tmp_path / "wmh.nii.gz", png=tmp_path / "report.png", skull_stripped=True,
                     model=three_class_model(), device="cpu")
    outlined = sitk.GetArrayFromImage(drawn["tumour / oedema, not WMH"])
    assert outlined.sum() > 0 and np.array_equal(outlined, sitk.GetArrayFromImage(result.pathology_mask))
    assert (tmp_path / "report.png").stat().st_size > 1000


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
