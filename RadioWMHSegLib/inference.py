"""Network prediction on an array that already lies on the network's grid.

The whole array is predicted in one pass, never in windows: the network normalises each input by its
own statistics (instance norm), so windows change the answer. With the shipped model, 128^3 windows
moved the WMH Dice against the whole crop to 0.71-0.96 and P(WMH) by up to 0.99 (docs/bench_cuda.json,
docs/benchmarks.md), while the whole 160x192x160 crop needs 1.4 GB of GPU memory in fp32 (0.8 GB in
bf16). Deterministic: cuDNN autotuning off, eval mode, no dropout.
`predict` also gives P(other pathology) for a 3-class model and, on request, the voxel-wise
uncertainty of the flips; `predict_probability` is its P(WMH) alone.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError

# Axes flipped for test-time augmentation: left-right first (the brain is near-symmetric).
TTA_FLIPS = ((4,), (3,), (2,))


def _pad_to_multiple(tensor, multiple):
    import torch.nn.functional as F

    pads = []
    for size in reversed(tensor.shape[2:]):
        extra = (-size) % multiple
        pads += [extra // 2, extra - extra // 2]
    return F.pad(tensor, pads), pads


def _unpad(tensor, pads):
    slices = [slice(None), slice(None)]
    dims = tensor.shape[2:]
    pairs = list(zip(pads[0::2], pads[1::2]))[::-1]  # back to (z, y, x) order
    for size, (before, after) in zip(dims, pairs):
        slices.append(slice(before, size - after))
    return tensor[tuple(slices)]


def _forward(net, tensor, precision):
    import torch

    multiple = 2 ** (len(net.config["channels"]) - 1) if hasattr(net, "config") else 16
    padded, pads = _pad_to_multiple(tensor, multiple)
    with torch.autocast(device_type=tensor.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = _unpad(net(padded), pads)
    return torch.softmax(logits.float(), dim=1)[:, 1:]  # WMH, then other pathology for a 3-class model


@dataclass
class Prediction:
    wmh: np.ndarray  # float32 P(WMH), the mean over the passes
    pathology: Optional[np.ndarray] = None  # float32 P(other pathology): 3-class models only
    uncertainty: Optional[np.ndarray] = None  # float32 standard deviation of P(WMH) over the flips, when asked


def predict(net, array, device=None, tta=False, uncertainty=False, precision="fp32") -> Prediction:
    """P(WMH) (and P(other pathology)) for a (z, y, x) float32 array, each of the array's shape.

    uncertainty=True predicts with the TTA flips (as tta=True) and also returns, per voxel, the
    standard deviation of P(WMH) over the 4 passes. Why that measure: it is what the flips disagree
    on, in the probability's own units (0 where every pass gives the same answer, at most 0.5), while
    the entropy of the mean would light up every lesion border where all passes agree on 0.5.
    """
    import torch

    if array.ndim != 3:
        raise ValueError(f"expected a 3D (z, y, x) array, got shape {array.shape}")
    device = device or next(net.parameters()).device
    torch.backends.cudnn.benchmark = False
    net.eval()
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None].to(device)
    if tensor.device.type == "cpu":
        # oneDNN's convolutions run faster channels-last: 10-18 % over the crop in fp32 on a 2-core Xeon
        # (docs/benchmarks.md). Left as it is on a GPU, where the network's timings were measured without it.
        net.to(memory_format=torch.channels_last_3d)
        tensor = tensor.contiguous(memory_format=torch.channels_last_3d)
    flips = [()] + (list(TTA_FLIPS) if tta or uncertainty else [])
    total, wmh_passes = None, []
    try:
        with torch.no_grad():
            for axes in flips:
                x = torch.flip(tensor, axes) if axes else tensor
                prob = _forward(net, x, precision)
                prob = torch.flip(prob, axes) if axes else prob
                total = prob if total is None else total + prob
                if uncertainty:
                    wmh_passes.append(prob[0, 0].cpu())
    except torch.cuda.OutOfMemoryError as exc:
        raise InputError(f"the GPU ran out of memory predicting a {'x'.join(map(str, array.shape))} array (the "
                         "network's crop needs about 1.4 GB free in fp32, 0.8 GB in bf16): close what else uses "
                         "the GPU, or use --device cpu") from exc
    mean = (total / len(flips))[0].cpu().numpy().astype(np.float32)
    spread = torch.stack(wmh_passes).std(dim=0, unbiased=False).numpy().astype(np.float32) if uncertainty else None
    return Prediction(wmh=mean[0], pathology=mean[1] if len(mean) > 1 else None, uncertainty=spread)


def predict_probability(net, array, device=None, tta=False, precision="fp32") -> np.ndarray:
    """P(WMH) for a (z, y, x) float32 array; returns a float32 array of the same shape."""
    return predict(net, array, device, tta=tta, precision=precision).wmh
