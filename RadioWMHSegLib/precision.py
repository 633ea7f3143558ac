"""Choice of arithmetic precision (fp32 or bf16 autocast) by what this machine really computes fast.

bf16 autocast is about 2.8x faster than fp32 on a CPU with native bf16 (AMX, AVX-512 BF16) and
~58x slower on one with AVX2 alone, where bf16 is emulated. CPU flags are an unreliable proxy (VMs
hide or fake them), so on the CPU 'auto' times one small 3D convolution step in both precisions, once
per machine and torch version, and keeps the answer in $RADIOWMHSEG_HOME/precision.json. On a GPU
'auto' is fp32: measured faster there for this network (resolve_precision).
"""

import json
import os
import platform
import time

from .choices import PRECISIONS
from .errors import InputError

# bf16 must beat fp32 by this factor to be chosen: a tie is not worth the rounding.
BF16_MIN_SPEEDUP = 1.2


def _cache_path() -> str:
    home = os.environ.get("RADIOWMHSEG_HOME") or os.path.join(os.path.expanduser("~"), ".radiowmhseg")
    return os.path.join(home, "precision.json")


def _machine_key() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu} | {os.cpu_count()} cores | torch {torch.__version__}"


def _seconds_per_step(dtype_bf16: bool, repeats: int = 2) -> float:
    """Best time of a forward and backward pass of a small 3D convolution stack, in one precision."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(16, 8, 3, padding=1))
    x = torch.randn(1, 8, 24, 24, 24)
    best = float("inf")
    for _ in range(repeats + 1):  # the first pass warms up the kernels
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype_bf16):
            loss = net(x).float().square().mean()
        loss.backward()
        best = min(best, time.perf_counter() - start)
    return best


def measure_cpu_precision() -> dict:
    """Times fp32 and bf16 on this CPU; returns {"choice", "fp32_s", "bf16_s", "machine"}."""
    fp32 = _seconds_per_step(False)
    bf16 = _seconds_per_step(True)
    choice = "bf16" if fp32 / bf16 >= BF16_MIN_SPEEDUP else "fp32"
    return {"choice": choice, "fp32_s": round(fp32, 5), "bf16_s": round(bf16, 5), "machine": _machine_key()}


def cpu_precision() -> str:
    """'bf16' or 'fp32' for this CPU, measured once and cached on disk (re-measured on another machine)."""
    path = _cache_path()
    key = _machine_key()
    try:
        with open(path) as handle:
            cached = json.load(handle)
        if cached.get("machine") == key and cached.get("choice") in ("fp32", "bf16"):
            return cached["choice"]
    except (OSError, ValueError):
        pass
    measured = measure_cpu_precision()
    try:
        from .safe_write import atomic_write_json

        atomic_write_json(path, measured, overwrite=True)
    except OSError:
        pass  # an unwritable home only costs a re-measurement next time
    return measured["choice"]


def resolve_precision(precision, device) -> str:
    """'fp32' or 'bf16' for a requested precision ('auto', 'fp32', 'bf16') on a torch device."""
    import torch

    precision = (precision or "auto").lower()
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}")
    device_type = getattr(device, "type", str(device))
    if precision == "bf16" and device_type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError("this GPU does not support bf16: use --precision fp32")
    if precision != "auto":
        return precision
    if device_type == "cuda":
        # On an H100 bf16 was slower than fp32 for this small network (training step 0.022 s vs 0.016 s,
        # whole crop with TTA 0.22 s vs 0.20 s) and moved P(WMH) 17-43x more (docs/bench_cuda.json).
        return "fp32"
    return cpu_precision()
