"""Choice of the torch device: CUDA where it exists, otherwise the CPU."""

from .choices import DEVICE_CHOICES
from .errors import InputError


def resolve_device(name="auto"):
    """Return the torch.device for 'auto', 'cpu' or 'cuda' (refusing CUDA where there is none).

    A torch.device is returned as it is: a caller resolves once and hands the device down, so the
    stages of one call never decide differently (nor repeat the CUDA checks).
    """
    import torch

    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES:
        raise InputError(f"unknown device '{name}': choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available: use --device cpu or auto")
    return torch.device(name)


def describe_device(device) -> str:
    """A human-readable name of the device, for `radiowmhseg info` and logs."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
