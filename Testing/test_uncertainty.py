"""The voxel-wise flip uncertainty, the per-case score, and its outputs (segment_image, segment, the stats JSON)."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import lopsided_net
from phantoms import native_grid, phantom_with_blob
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.inference import TTA_FLIPS, predict, predict_probability
from RadioWMHSegLib.model_io import LoadedModel
from RadioWMHSegLib.segment import segment, segment_image
from RadioWMHSegLib.uncertainty import UNCERTAIN_LEVEL, summarise


@pytest.fixture(scope="module")
def small_phantom():
    return phantom_with_blob(native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6)))


def test_the_uncertainty_is_the_spread_of_the_flips_and_zero_for_a_net_that_flips_with_the_image():
    import torch

    from conftest import BrightVoxelNet

    rng = np.random.default_rng(0)
    array = rng.normal(2.5, 1.5, size=(12, 10, 14)).astype(np.float32)
    net = lopsided_net()
    result = predict(net, array, uncertainty=True)
    passes = []
    with torch.no_grad():
        tensor = torch.from_numpy(array)[None, None]
        for axes in [()] + list(TTA_FLIPS):
            x = torch.flip(tensor, axes) if axes else tensor
            p = torch.softmax(net(x), dim=1)[:, 1:2]
            passes.append((torch.flip(p, axes) if axes else p)[0, 0].numpy())
    assert np.allclose(result.uncertainty, np.std(passes, axis=0), atol=1e-6)
    assert np.allclose(result.wmh, np.mean(passes, axis=0), atol=1e-6)  # the mean of the TTA passes
    assert result.uncertainty.max() > 0.1 and result.pathology is None
    # Asked for nothing more, predict is predict_probability; a pointwise net has nothing to disagree on.
    assert predict(net, array).uncertainty is None
    assert np.array_equal(predict(net, array).wmh, predict_probability(net, array))
    assert np.abs(predict(BrightVoxelNet().eval(), array, uncertainty=True).uncertainty).max() < 1e-6


def test_the_case_score_follows_its_definition():
    spread = np.zeros((4, 5, 10), np.float32)
    spread[0, 0, :6] = 0.3  # 6 uncertain voxels
    spread[1, 0, :3] = UNCERTAIN_LEVEL / 2  # inside the WMH but below the level
    mask = np.zeros((4, 5, 10), np.uint8)
    mask[0, 0, 4:8] = 1  # 4 WMH voxels, 2 of them uncertain
    mask[1, 0, :3] = 1  # 3 more, certain
    images = [sitk.GetImageFromArray(a) for a in (spread, mask)]
    for image in images:
        image.SetSpacing((2.0, 1.0, 1.5))  # 3 mm3 per voxel
    score = summarise(*images)
    assert score["uncertain_volume_ml"] == pytest.approx(6 * 3 / 1000.0)
    assert score["uncertain_fraction"] == pytest.approx(6 / (6 + 2 + 3), abs=1e-4)  # of the voxels WMH or uncertain
    assert score["mean_in_wmh"] == pytest.approx((2 * 0.3 + 3 * UNCERTAIN_LEVEL / 2) / 7, abs=1e-4)
    empty = summarise(sitk.Image(3, 3, 3, sitk.sitkFloat32), sitk.Image(3, 3, 3, sitk.sitkUInt8))
    assert (empty["uncertain_volume_ml"], empty["uncertain_fraction"], empty["mean_in_wmh"]) == (0.0, 0.0, 0.0)


def test_segment_image_gives_the_uncertainty_on_the_input_grid_inside_the_brain(small_phantom):
    image, _ = small_phantom
    model = LoadedModel(net=lopsided_net(), card={"name": "lopsided"}, path=None)
    plain = segment_image(image, skull_stripped=True, model=model, device="cpu")
    assert plain.uncertainty is None and plain.uncertainty_score is None
    result = segment_image(image, skull_stripped=True, model=model, device="cpu", uncertainty=True)
    assert result.uncertainty.GetSize() == image.GetSize()
    assert np.allclose(result.uncertainty.GetDirection(), image.GetDirection())
    assert np.allclose(result.uncertainty.GetOrigin(), image.GetOrigin())
    spread = sitk.GetArrayFromImage(result.uncertainty)
    brain = sitk.GetArrayFromImage(result.brain_mask) > 0
    assert spread[brain].max() > UNCERTAIN_LEVEL and spread[~brain].max() == 0.0
    assert result.uncertainty_score["uncertain_volume_ml"] > 0
    # Uncertainty predicts with the flips: the probability is that of tta=True, and the record says so.
    tta = segment_image(image, skull_stripped=True, model=model, device="cpu", tta=True)
    assert np.array_equal(sitk.GetArrayFromImage(result.probability), sitk.GetArrayFromImage(tta.probability))
    network = next(s for s in result.record["stages"] if s["stage"] == "network")["parameters"]
    assert network["tta"] is True and network["uncertainty"] is True


def test_segment_writes_the_map_and_the_score_and_refuses_an_existing_file_first(tmp_path, small_phantom, monkeypatch):
    from RadioWMHSegLib import segment as segment_module

    image, _ = small_phantom
    flair = tmp_path / "case.nii.gz"
    sitk.WriteImage(image, str(flair))
    model = LoadedModel(net=lopsided_net(), card={"name": "lopsided"}, path=None)
    result = segment(flair, tmp_path / "wmh.nii.gz", uncertainty=tmp_path / "unc.nii.gz", stats=tmp_path / "s.json",
                     skull_stripped=True, model=model, device="cpu")
    written = sitk.ReadImage(str(tmp_path / "unc.nii.gz"))
    assert written.GetSize() == image.GetSize() and written.GetPixelID() == sitk.sitkFloat32
    document = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert document["uncertainty"] == result.uncertainty_score
    assert document["settings"]["tta"] is True  # a cohort rerun knows these masks came from the flips
    monkeypatch.setattr(segment_module, "segment_image", lambda *a, **k: pytest.fail("work began before the check"))
    with pytest.raises(InputError, match="already exists"):
        segment(flair, tmp_path / "other.nii.gz", uncertainty=tmp_path / "unc.nii.gz", model=model)
    with pytest.raises(InputError, match="--uncertainty"):
        segment(flair, tmp_path / "other.nii.gz", uncertainty=tmp_path / "unc.png", model=model)
