"""Shared fixtures and helpers. `bright_voxel_model` stands in for a trained network, so that geometry,
determinism and the mapping back can be tested without depending on accuracy.

Helpers used by several test modules live here and in the helper modules below, never in a test
module (test modules do not import each other): phantoms.py (head-like volumes on native grids, known affines),
image_files.py (small FLAIR-like images, DICOM series), tiny_datasets.py (tiny training datasets),
segment_stand_in.py (a fast segment_image and a small head, for what happens before and after the network).
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import image_files  # noqa: E402,F401  (the shared helpers: a broken one fails at collection, once)
import phantoms  # noqa: E402,F401
import segment_stand_in  # noqa: E402
import tiny_datasets  # noqa: E402,F401

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


def bright_voxel_loaded_model(threshold=3.0, name="bright-voxel-stand-in"):
    """The stand-in as a model_io.LoadedModel, as segment_image takes it (for module-scoped fixtures too)."""
    from RadioWMHSegLib.model_io import LoadedModel

    card = {"format": 1, "name": name, "architecture": {"class": "BrightVoxelNet"}}
    return LoadedModel(net=BrightVoxelNet(threshold=threshold).eval(), card=card, path=None)


@pytest.fixture
def bright_voxel_model():
    return bright_voxel_loaded_model()


def lopsided_net(threshold=3.0, gain=4.0, tilt=3.0):
    """Not a trained model: bright voxels are WMH, more so on one side (x), so a left-right flip changes its answer."""
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = {"channels": [1]}
            self.anchor = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            side = torch.linspace(-1.0, 1.0, x.shape[-1], device=x.device)
            wmh = gain * (x - threshold) + tilt * side + self.anchor
            return torch.cat([torch.zeros_like(wmh), wmh], dim=1)

    return _Net().eval()


def three_class_net(threshold=3.0, gain=4.0):
    """Not a trained model: bright voxels are WMH on one side of the array (low x), other pathology on the other,
    where P(WMH) is still about 0.27: only the pathology keeps WMH out of it."""
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = {"channels": [1], "out_channels": 3}
            self.anchor = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            far_side = (torch.linspace(-1.0, 1.0, x.shape[-1], device=x.device) > 0).float()
            bright = gain * (x - threshold) + self.anchor
            return torch.cat([torch.zeros_like(bright), bright - far_side, bright - 40 * (1 - far_side)], dim=1)

    return _Net().eval()


def three_class_model():
    """three_class_net as a model_io.LoadedModel, as segment_image takes it."""
    from RadioWMHSegLib.model_io import LoadedModel

    return LoadedModel(net=three_class_net(), card={"name": "three-class-stand-in"}, path=None)


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

    from RadioWMHSegLib.geometry import rotation

    rng = np.random.default_rng(seed)
    array = rng.normal(100.0, 5.0, size=shape[::-1]).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    direction = rotation(0.0, 0.0, angle_deg) @ np.diag([1.0, 1.0, -1.0])  # one flipped axis: left-handed
    image.SetDirection(direction.flatten().tolist())
    image.SetOrigin((-30.0, 20.0, 15.0))
    return image


# ---------------------------------------------------------------- the MRML side (slicer-core)

@pytest.fixture
def scene():
    """An empty MRML scene with the segmentation converters Slicer registers at start-up."""
    import slicer

    from RadioWMHSegLib import slicer_logic

    scene = slicer.vtkMRMLScene()
    slicer_logic.ensure_segmentation_converters(scene)
    return scene


@pytest.fixture
def flair_file(tmp_path):
    """A small oblique, left-handed FLAIR-like NIfTI with two bright blobs (the 'lesions')."""
    import SimpleITK as sitk

    image = oblique_left_handed_volume(shape=(40, 44, 36))
    array = sitk.GetArrayFromImage(image)
    z, y, x = np.ogrid[: array.shape[0], : array.shape[1], : array.shape[2]]
    array[(x - 14) ** 2 + (y - 20) ** 2 + (z - 18) ** 2 <= 16] = 400.0
    array[(x - 28) ** 2 + (y - 25) ** 2 + (z - 12) ** 2 <= 9] = 400.0
    flair = sitk.GetImageFromArray(array)
    flair.CopyInformation(image)
    path = tmp_path / "patient_flair.nii.gz"
    sitk.WriteImage(flair, str(path))
    return path


def bright_mask(volume_node):
    """The blobs of `flair_file` as a uint8 mask on the volume node's grid."""
    import SimpleITK as sitk

    from RadioWMHSegLib import slicer_logic

    return sitk.Cast(slicer_logic.volume_to_sitk(volume_node) > 300, sitk.sitkUInt8)


# ---- segment() without the network (test_reliability, test_bad_inputs, test_cohort_reruns)

@pytest.fixture(scope="module")
def head():
    return segment_stand_in.small_head()


@pytest.fixture
def flair(tmp_path, head):
    import SimpleITK as sitk

    path = tmp_path / "flair.nii.gz"
    sitk.WriteImage(head, str(path))
    return path


@pytest.fixture
def fast_segment(monkeypatch):
    """segment_image replaced by the stand-in; the list records the options of each call."""
    from RadioWMHSegLib import segment as segment_module

    calls = []

    def fake(image, **options):
        calls.append(options)
        return segment_stand_in.fake_segment_image(image, **options)

    monkeypatch.setattr(segment_module, "segment_image", fake)
    return calls


@pytest.fixture
def no_work(monkeypatch):
    """segment_image must not be reached: the refusal has to come before any work."""
    from RadioWMHSegLib import segment as segment_module

    def forbidden(*args, **kwargs):
        raise AssertionError("segment_image was called: the problem was not caught before the work")

    monkeypatch.setattr(segment_module, "segment_image", forbidden)
