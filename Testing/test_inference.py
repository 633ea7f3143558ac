"""Network prediction beyond the shape: flip TTA is the mean of the flipped passes, an array is predicted
whole (instance norm makes windows change the answer), and a GPU out of memory gets a clear error."""

import numpy as np
import pytest
import torch

from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.inference import predict, predict_probability


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


class WholeInputNormNet(torch.nn.Module):
    """Instance norm as the shipped network has it: each voxel's output depends on the mean and spread of
    the whole input, so predicting the array in windows (each normalised on its own) changes the answer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.config = {"channels": [1]}
        self.norm = torch.nn.InstanceNorm3d(1)
        self.conv = torch.nn.Conv3d(1, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(self.norm(x))


def test_a_large_array_is_predicted_whole_never_in_windows():
    # 160x192x160 is the network's crop; one side more and the array is above any window size a GPU would take.
    array = np.zeros((161, 192, 160), dtype=np.float32)
    array[40:120, 50:150, 40:120] = np.random.default_rng(5).normal(1.0, 0.5, size=(80, 100, 80))
    net = WholeInputNormNet().eval()
    with torch.no_grad():
        expected = torch.softmax(net(torch.from_numpy(array)[None, None]), dim=1)
    prediction = predict(net, array, device="cpu")
    np.testing.assert_allclose(prediction.wmh, expected[0, 1].numpy(), atol=1e-5)
    np.testing.assert_allclose(prediction.pathology, expected[0, 2].numpy(), atol=1e-5)


class OutOfGpuMemoryNet(torch.nn.Module):
    config = {"channels": [1]}

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 1)

    def forward(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_running_out_of_gpu_memory_says_what_to_do():
    with pytest.raises(InputError, match="ran out of memory.*--device cpu"):
        predict(OutOfGpuMemoryNet(), np.zeros((8, 8, 8), dtype=np.float32), device="cpu")
