"""Network prediction on an array that already lies on the network's grid.

The whole MNI crop fits in memory on a CPU, so by default it is predicted in one pass (no seams);
sliding-window inference (MONAI) takes over for arrays larger than `max_whole_voxels` or when a
roi size is given, e.g. on a small GPU. Deterministic: cuDNN autotuning off, eval mode, no dropout.
"""

import numpy as np

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


def _forward(net, tensor, roi_size, precision):
    import torch

    autocast = precision == "bf16"
    with torch.autocast(device_type=tensor.device.type, dtype=torch.bfloat16, enabled=autocast):
        if roi_size is None:
            multiple = 2 ** (len(net.config["channels"]) - 1) if hasattr(net, "config") else 16
            padded, pads = _pad_to_multiple(tensor, multiple)
            logits = _unpad(net(padded), pads)
        else:
            from monai.inferers import sliding_window_inference

            logits = sliding_window_inference(tensor, roi_size, 1, net, overlap=0.25, mode="gaussian")
    return torch.softmax(logits.float(), dim=1)[:, 1:2]


def predict_probability(net, array, device=None, tta=False, roi_size=None, precision="fp32",
                        max_whole_voxels=12_000_000) -> np.ndarray:
    """P(WMH) for a (z, y, x) float32 array; returns a float32 array of the same shape."""
    import torch

    if array.ndim != 3:
        raise ValueError(f"expected a 3D (z, y, x) array, got shape {array.shape}")
    device = device or next(net.parameters()).device
    torch.backends.cudnn.benchmark = False
    if roi_size is None and array.size > max_whole_voxels:
        roi_size = (128, 128, 128)
    net.eval()
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None].to(device)
    flips = [()] + (list(TTA_FLIPS) if tta else [])
    total = None
    with torch.no_grad():
        for axes in flips:
            x = torch.flip(tensor, axes) if axes else tensor
            prob = _forward(net, x, roi_size, precision)
            prob = torch.flip(prob, axes) if axes else prob
            total = prob if total is None else total + prob
    return (total / len(flips))[0, 0].cpu().numpy().astype(np.float32)
