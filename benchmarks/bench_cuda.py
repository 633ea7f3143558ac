"""What a CUDA GPU gives with the bundled model: the CPU's segmentation, and how much faster.

    python benchmarks/bench_cuda.py CASE.npz [CASE.npz ...] --out docs/bench_cuda.json [--repeats 3]

CASE.npz: a network input on the crop grid as the trainer caches it (`<dataset>/preprocessed/*.npz`, key
'image'). Per case, P(WMH) and P(other pathology) as `segment` computes them (whole crop, TTA): on the CPU
in fp32 (the reference), then on the GPU in fp32 and in bf16 autocast, and on the GPU through 128^3
sliding windows (MONAI, Gaussian blending; what a GPU with little memory would need, and why
inference.py never predicts in windows: instance norm makes them change the answer). Reported:
the largest probability difference from the CPU, the Dice between the thresholded WMH masks, each one's
WMH volume, seconds (median of --repeats after a warm-up) and peak GPU memory. Then seconds per training
step as the trainer runs it (batch 2 of 64^3 patches, Dice + cross-entropy over 3 classes, Adam,
channels_last_3d) in fp32 and bf16 on the GPU, and on the CPU in fp32 for the ratio.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)


def timed(function, repeats, synchronise):
    """(result of the last call, median seconds of `repeats` calls after one warm-up)."""
    result = function()
    times = []
    for _ in range(repeats):
        synchronise()
        start = time.perf_counter()
        result = function()
        synchronise()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def dice(a, b) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def predict_in_windows(net, image, roi_size=(128, 128, 128)):
    """P(WMH) and P(other pathology) with TTA as `inference.predict` computes them, but in windows."""
    import torch
    from monai.inferers import sliding_window_inference

    from RadioWMHSegLib.inference import TTA_FLIPS, Prediction

    tensor = torch.from_numpy(image)[None, None].to(next(net.parameters()).device)
    flips = [()] + list(TTA_FLIPS)
    total = 0
    with torch.no_grad():
        for axes in flips:
            x = torch.flip(tensor, axes) if axes else tensor
            prob = torch.softmax(sliding_window_inference(x, roi_size, 1, net, overlap=0.25, mode="gaussian"), dim=1)
            total = total + (torch.flip(prob, axes) if axes else prob)
    mean = (total / len(flips))[0].cpu().numpy()
    return Prediction(wmh=mean[1], pathology=mean[2] if len(mean) > 2 else None)


def compare_inference(path, repeats) -> dict:
    import torch

    from RadioWMHSegLib.choices import DEFAULT_THRESHOLD
    from RadioWMHSegLib.inference import predict
    from RadioWMHSegLib.model_io import load_model

    with np.load(path) as arrays:
        if "image" not in arrays.files:
            sys.exit(f"{path} holds no 'image' array: give a training cache, <dataset>/preprocessed/<case>.npz")
        image = arrays["image"].astype(np.float32)
    cpu_net = load_model(device="cpu").net
    gpu_net = load_model(device="cuda").net
    nothing = lambda: None  # noqa: E731 - the CPU needs no synchronisation
    reference, cpu_s = timed(lambda: predict(cpu_net, image, tta=True), 1, nothing)
    ref_mask = reference.wmh >= DEFAULT_THRESHOLD
    row = {"case": Path(path).name, "cpu_fp32": {"seconds": round(cpu_s, 2),
                                                 "wmh_ml": round(float(ref_mask.sum()) / 1000, 2)}}
    runs = {"gpu_fp32": lambda: predict(gpu_net, image, tta=True, precision="fp32"),
            "gpu_bf16": lambda: predict(gpu_net, image, tta=True, precision="bf16"),
            "gpu_fp32_windows_128": lambda: predict_in_windows(gpu_net, image)}
    for name, run in runs.items():
        torch.cuda.reset_peak_memory_stats()
        prediction, seconds = timed(run, repeats, torch.cuda.synchronize)
        mask = prediction.wmh >= DEFAULT_THRESHOLD
        largest_difference = float(np.abs(prediction.wmh - reference.wmh).max())
        row[name] = {"seconds": round(seconds, 3), "speed_up_vs_cpu": round(cpu_s / seconds, 1),
                     "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                     "wmh_ml": round(float(mask.sum()) / 1000, 2),
                     "wmh_dice_vs_cpu": round(dice(mask, ref_mask), 4),
                     "max_abs_wmh_probability_difference": round(largest_difference, 4)}
        if reference.pathology is not None:
            difference = np.abs(prediction.pathology - reference.pathology).max()
            row[name]["max_abs_pathology_probability_difference"] = round(float(difference), 4)
    return row


def training_step_seconds(device, precision, repeats) -> dict:
    import torch

    from RadioWMHSegLib.network import AttentionVNet
    from RadioWMHSegLib.training.loss import DiceCELoss

    torch.manual_seed(0)
    net = AttentionVNet(out_channels=3).to(device).to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    loss_fn = DiceCELoss()
    image = torch.randn(2, 1, 64, 64, 64, device=device).contiguous(memory_format=torch.channels_last_3d)
    target = torch.randint(0, 3, (2, 1, 64, 64, 64), device=device)
    valid = torch.ones_like(target, dtype=torch.float32)

    def step():
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = net(image)
        loss = loss_fn(logits, target, valid)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    synchronise = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _, seconds = timed(step, repeats, synchronise)
    row = {"seconds": round(seconds, 4)}
    if device == "cuda":
        row["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="network inputs (.npz with an 'image' array on the crop grid)")
    parser.add_argument("--out", help="JSON file for the results")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU is visible to torch: run this on a machine with one (and a CUDA build of torch)")
    from bench_pipeline import machine

    result = {"machine": {**machine(), "gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
                          "platform": platform.platform()},
              "command": f"python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}", "cases": []}
    for path in args.cases:
        result["cases"].append(compare_inference(path, args.repeats))
        print(json.dumps(result["cases"][-1]), flush=True)
    result["training_step"] = {"gpu_fp32": training_step_seconds("cuda", "fp32", 20),
                               "gpu_bf16": training_step_seconds("cuda", "bf16", 20),
                               "cpu_fp32": training_step_seconds("cpu", "fp32", 3)}
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n", overwrite=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
