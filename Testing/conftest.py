"""Shared fixtures. `bright_voxel_model` stands in for a trained network until one exists, so that
geometry, determinism and the mapping back can be tested without depending on accuracy."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

SHARED_DATA = Path(os.environ.get("RADIOWMHSEG_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))


class BrightVoxelNet:
    """Not a trained model: logits for WMH rise with normalised intensity above `threshold`."""

    def __new__(cls, threshold=3.0, gain=4.0):
        import torch
        from torch import nn

        class _Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.config = {"channels": [1]}  # no down-sampling, so inference pads nothing
                self.anchor = nn.Parameter(torch.zeros(1))  # gives the module a device

            def forward(self, x):
                wmh = gain * (x - threshold) + self.anchor
                return torch.cat([torch.zeros_like(wmh), wmh], dim=1)

        return _Net()


@pytest.fixture
def bright_voxel_model():
    from RadioWMHSegLib.model_io import LoadedModel

    net = BrightVoxelNet().eval()
    card = {"format": 1, "name": "bright-voxel-stand-in", "architecture": {"class": "BrightVoxelNet"}}
    return LoadedModel(net=net, card=card, path=None)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (it is only on development machines)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    # Fine-tuned models and user settings go to a temporary home, never to the developer's.
    monkeypatch.setenv("RADIOWMHSEG_HOME", str(tmp_path / "radiowmhseg_home"))


def oblique_left_handed_volume(shape=(64, 72, 56), spacing=(1.1, 0.9, 1.3), angle_deg=17.0, seed=0):
    """A noisy FLAIR-like sitk volume with an oblique, left-handed direction matrix (det < 0)."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    array = rng.normal(100.0, 5.0, size=shape[::-1]).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    direction = rotation @ np.diag([1.0, 1.0, -1.0])  # one flipped axis: left-handed
    image.SetDirection(direction.flatten().tolist())
    image.SetOrigin((-30.0, 20.0, 15.0))
    return image
