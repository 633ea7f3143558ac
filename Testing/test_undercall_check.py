"""The warning that much of the WMH may be left out: more white matter just under the threshold than WMH marked."""

import math

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.undercall_check import MIN_FOUND_ML, borderline_white_matter_ml, undercall_warning


def _image(array, spacing=(1.0, 1.0, 2.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def test_borderline_tissue_is_white_matter_in_the_brain_outside_the_mask_between_the_two_probabilities():
    p = np.zeros((4, 10, 10), np.float32)
    p[0] = 0.19   # under the borderline probability: not counted
    p[1] = 0.2    # borderline
    p[2] = 0.49   # borderline
    p[3] = 0.5    # at the threshold: WMH, not borderline
    mask = (p >= 0.5).astype(np.uint8)
    mask[1, :, :5] = 1  # marked WMH (e.g. kept by the pathology rules): not borderline
    brain = np.ones_like(mask)
    brain[2, :5] = 0  # outside the brain: not counted
    white_matter = np.full(p.shape, 0.9, np.float32)
    white_matter[2, 5:, :5] = 0.4  # cortex: not counted
    volume = borderline_white_matter_ml(_image(p), _image(mask), _image(brain), _image(white_matter), threshold=0.5)
    assert volume == pytest.approx((50 + 50 - 25) * 2.0 / 1000.0)


def test_the_warning_fires_only_with_enough_wmh_found_and_more_borderline_than_found():
    assert undercall_warning(MIN_FOUND_ML - 0.1, 100.0) is None  # little WMH: caps and partial volumes outweigh it
    assert undercall_warning(30.0, 30.0) is None
    assert undercall_warning(30.0, 20.0) is None
    message = undercall_warning(30.0, 41.5)
    assert "41.5 mL" in message and "30.0 mL" in message and "lower threshold" in message


@pytest.fixture(scope="module")
def phantom_preprocessed():
    """(the phantom FLAIR, its preprocessing): preprocessing has its own tests and costs ~15 s a run."""
    from phantoms import phantom_with_blob
    from RadioWMHSegLib.preprocessing import pipeline

    image = phantom_with_blob()[0]
    return image, pipeline.preprocess(image, skull_stripped=True, device="cpu")


@pytest.fixture
def phantom_case(phantom_preprocessed, monkeypatch):
    """The phantom FLAIR, whose preprocessing segment_image is handed ready-made."""
    from RadioWMHSegLib.preprocessing import pipeline

    monkeypatch.setattr(pipeline, "preprocess", lambda image, **kwargs: phantom_preprocessed[1])
    return phantom_preprocessed[0]


def _split_net(share):
    """Not a trained model: P(WMH) 0.9 over the first `share` of the crop along x, 0.3 over the rest."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = {"channels": [1]}
            self.anchor = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            logit = torch.full_like(x, math.log(0.3 / 0.7))
            logit[..., : int(x.shape[-1] * share)] = math.log(0.9 / 0.1)
            return torch.cat([torch.zeros_like(logit), logit + self.anchor], dim=1)

    return Net().eval()


@pytest.mark.parametrize("share, warned", [(0.25, True), (0.75, False)])
def test_segment_image_warns_and_records_the_borderline_white_matter(phantom_preprocessed, phantom_case, share,
                                                                       warned):
    from RadioWMHSegLib.model_io import LoadedModel
    from RadioWMHSegLib.segment import on_input_grid, segment_image
    from RadioWMHSegLib.undercall_check import white_matter_on_crop

    model = LoadedModel(net=_split_net(share), card={"format": 1, "name": "split"}, path=None)
    result = segment_image(phantom_case, skull_stripped=True, model=model, device="cpu", tta=False)
    quality = result.record["quality"]
    found = result.stats.total_volume_ml
    assert found >= MIN_FOUND_ML
    white_matter = on_input_grid(phantom_preprocessed[1], white_matter_on_crop())
    expected = borderline_white_matter_ml(result.probability, result.mask, result.brain_mask, white_matter, 0.5)
    assert expected > 0
    assert quality["borderline_white_matter_ml"] == pytest.approx(expected, abs=1e-3)
    assert (expected > found) == warned
    assert any("just under the threshold" in w for w in quality["warnings"]) == warned
