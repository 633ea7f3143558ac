"""Network prediction beyond the shape: flip TTA is the mean of the flipped passes, and sliding-window
prediction agrees with whole-volume prediction."""

import numpy as np
import torch

from RadioWMHSegLib.inference import predict_probability
from RadioWMHSegLib.network import AttentionVNet


class VoxelwiseNet(torch.nn.Module):
    """Random 1x1x1 convolutions: each voxel's output depends on its own value only, so any tiling of the
    volume must give exactly the whole-volume answer."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = {"channels": [1]}  # no down-sampling: inference pads nothing
        self.layers = torch.nn.Sequential(torch.nn.Conv3d(1, 8, 1), torch.nn.Tanh(), torch.nn.Conv3d(8, 2, 1))

    def forward(self, x):
        return self.layers(x)


class LopsidedNet(torch.nn.Module):
    """A random 3x3x3 convolution plus a ramp along every axis: flipping the input does not flip its output,
    so the four TTA passes really differ."""

    def __init__(self, shape_zyx, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = {"channels": [1]}
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)
        z, y, x = torch.meshgrid(*[torch.linspace(-1, 1, n) for n in shape_zyx], indexing="ij")
        self.register_buffer("ramp", (0.7 * z + 1.1 * y - 0.9 * x)[None, None])

    def forward(self, x):
        logits = self.conv(x)
        return torch.cat([logits[:, :1], logits[:, 1:] + self.ramp], dim=1)


def _manual_tta(net, array):
    """The definition: P(WMH) of each flipped input, flipped back, averaged over no flip and the three axes."""
    tensor = torch.from_numpy(array)[None, None]
    passes = []
    with torch.no_grad():
        for axes in ((), (4,), (3,), (2,)):
            x = torch.flip(tensor, axes) if axes else tensor
            p = torch.softmax(net(x), dim=1)[:, 1:2]
            passes.append(torch.flip(p, axes) if axes else p)
    return torch.stack(passes).mean(dim=0)[0, 0].numpy()


def test_flip_tta_is_the_mean_of_the_flipped_predictions():
    shape = (12, 14, 10)
    array = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    net = LopsidedNet(shape).eval()
    plain = predict_probability(net, array, device="cpu")
    with_tta = predict_probability(net, array, device="cpu", tta=True)
    assert np.abs(with_tta - plain).max() > 0.05, "the stand-in is flip-symmetric: the test would prove nothing"
    np.testing.assert_allclose(with_tta, _manual_tta(net, array), atol=1e-6)


def test_sliding_window_gives_the_whole_volume_answer_for_a_voxelwise_net():
    array = np.random.default_rng(2).normal(size=(40, 52, 36)).astype(np.float32)
    net = VoxelwiseNet().eval()
    whole = predict_probability(net, array, device="cpu")
    for roi in ((16, 16, 16), (24, 20, 36)):
        windowed = predict_probability(net, array, device="cpu", roi_size=roi)
        np.testing.assert_allclose(windowed, whole, atol=1e-5, err_msg=f"roi {roi}")
    # An array above the whole-volume limit goes through the windows by itself, with the same answer.
    np.testing.assert_allclose(predict_probability(net, array, device="cpu", max_whole_voxels=1000), whole, atol=1e-5)


def test_sliding_window_agrees_closely_with_whole_volume_prediction_on_a_small_vnet():
    torch.manual_seed(3)
    net = AttentionVNet(channels=(4, 8), convs=(1, 1)).eval()
    array = np.random.default_rng(3).normal(size=(48, 48, 48)).astype(np.float32)
    array[16:32, 16:32, 16:32] += 3.0  # something for the net to see, across window borders
    whole = predict_probability(net, array, device="cpu")
    windowed = predict_probability(net, array, device="cpu", roi_size=(32, 32, 32))
    assert whole.std() > 1e-3, "the stand-in predicts a constant: the test would prove nothing"
    # Windows lose a little context at their borders (zero padding instead of neighbours), nothing more:
    # measured 0.007 mean and 0.98 correlation; a misplaced window or a wrong channel is many times that.
    assert np.abs(windowed - whole).mean() < 0.02
    assert np.corrcoef(windowed.ravel(), whole.ravel())[0, 1] > 0.95
