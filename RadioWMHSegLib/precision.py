"""Choice of arithmetic precision (fp32 or bf16 autocast) by what this machine really computes fast.

bf16 autocast is about 2.8x faster than fp32 on a CPU with native bf16 (AMX, AVX-512 BF16) and
~58x slower on one with AVX2 alone, where bf16 is emulated. CPU flags are an unreliable proxy (VMs
hide or fake them), so on the CPU 'auto' times a training step of the project's network in both precisions,
once per machine and torch version, and keeps the answer in $RADIOWMHSEG_HOME/precision.json. On a GPU
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


# The probe: the project's own network (default widths, 3 classes), forward and backward on the trainer's
# batch (two 64^3 patches, channels_last_3d). A toy probe (two 8-16 channel convolutions at 24^3) said bf16
# was 4x faster on a Xeon without native bf16, where this network ran 1.1x (a pass over the crop) to 1.9x (a
# training step) slower in bf16. One 64^3 patch in the default layout came out a tie there and chose bf16 in one
# run of two; the trainer's batch gave bf16 at 0.53-0.54x of fp32's speed in three runs (docs/benchmarks.md).
PROBE_SIZE = 64
PROBE_BATCH = 2
# Bumped whenever the probe changes, so that a choice cached by an older probe is measured again.
PROBE_VERSION = 4
# Where bf16 is emulated, a step takes 10-60x fp32's: no need to repeat it to know. A first look at 32^3
# decided in 5.3 s there (AVX2 kernels: fp32 0.107 s, bf16 1.98 s), where the full probe took 28 s.
CLEARLY_SLOWER = 10.0
FIRST_LOOK_SIZE = 32


def _probe_step(net, x, dtype_bf16: bool) -> float:
    import torch

    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype_bf16):
        loss = net(x).float().square().mean()
    loss.backward()
    return time.perf_counter() - start


def _seconds_per_step(dtype_bf16: bool, repeats: int = 3, give_up_after_s: float = float("inf"),
                      size: int = PROBE_SIZE) -> float:
    """Best time of a training step of the project's network on two size^3 patches, in one precision.

    The first pass warms up the kernels and is not counted, unless it already took give_up_after_s.
    """
    import torch

    from .network import AttentionVNet

    torch.manual_seed(0)
    net = AttentionVNet(in_channels=1, out_channels=3).to(memory_format=torch.channels_last_3d)
    x = torch.randn(PROBE_BATCH, 1, size, size, size).contiguous(memory_format=torch.channels_last_3d)
    warm_up = _probe_step(net, x, dtype_bf16)
    if warm_up >= give_up_after_s:
        return warm_up
    return min(_probe_step(net, x, dtype_bf16) for _ in range(repeats))


def measure_cpu_precision() -> dict:
    """Times fp32 and bf16 on this CPU; returns {"choice", "fp32_s", "bf16_s", "size", "machine", "probe"}."""
    size = FIRST_LOOK_SIZE
    fp32 = _seconds_per_step(False, repeats=1, size=size)
    bf16 = _seconds_per_step(True, repeats=1, size=size, give_up_after_s=CLEARLY_SLOWER * fp32)
    if bf16 < CLEARLY_SLOWER * fp32:  # not emulated: small steps mislead, so time the trainer's own
        size = PROBE_SIZE
        fp32 = _seconds_per_step(False)
        bf16 = _seconds_per_step(True, give_up_after_s=CLEARLY_SLOWER * fp32)
    choice = "bf16" if fp32 / bf16 >= BF16_MIN_SPEEDUP else "fp32"
    return {"choice": choice, "fp32_s": round(fp32, 5), "bf16_s": round(bf16, 5), "size": size,
            "machine": _machine_key(), "probe": PROBE_VERSION}


def cpu_precision() -> str:
    """'bf16' or 'fp32' for this CPU, measured once and cached on disk (re-measured on another machine)."""
    path = _cache_path()
    key = _machine_key()
    try:
        with open(path) as handle:
            cached = json.load(handle)
        if (cached.get("machine") == key and cached.get("probe") == PROBE_VERSION
                and cached.get("choice") in ("fp32", "bf16")):
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
