"""bf16 autocast against fp32 with the bundled (trained) weights: same masks? how much faster?

    python benchmarks/bench_precision.py [--data ../shared/data] [--synthetic DATASET ...] \
        --out docs/precision_validation.json

Issue 8 asks that bf16 be adopted only where Dice holds and the processor computes bf16 natively. Each case
is preprocessed once; the network then runs on the same crop in fp32 and in bf16 (with the default flips,
as `segment` runs it), and both masks are mapped back and thresholded the same way. Per case: Dice of the
bf16 mask against the fp32 mask, each one's Dice against the truth where there is one, the WMH volumes, the
largest change of P(WMH) on the input grid, the other-pathology masks' agreement (3-class model), and the
network seconds in each precision. Cases: every raw scan of ../shared/data (as bench_raw_flair.py finds
them), the README sample and the dev case patient 26 (as compare_models.py finds them), and the cases of
each --synthetic dataset (skull-stripped, label 1 = WMH, 2 = other pathology). Also one network pass over the
whole crop without flips, the figure issue 8's 3 s target is about. The machine and the precision `auto`
picks on it are recorded.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

PRECISIONS = ("fp32", "bf16")


def all_cases(data: Path, synthetic) -> list:
    """(name, flair, truth or None, skull_stripped) of every case."""
    from bench_raw_flair import raw_cases
    from compare_models import cases as sample_and_dev_case

    from RadioWMHSegLib.datasets import load_dataset

    found = [(name, flair, truth, False) for name, flair, truth, _ in raw_cases(data)]
    found += sample_and_dev_case(data, None)

    for dataset in synthetic or []:
        for case in load_dataset(dataset).cases:
            found.append((f"{Path(dataset).name}/{case.name}", case.image_path, case.label_path, True))
    return found


def compare_case(name, flair, truth, skull_stripped, loaded, device) -> dict:
    import numpy as np
    import SimpleITK as sitk

    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.metrics import dice
    from RadioWMHSegLib.preprocessing.pipeline import preprocess
    from RadioWMHSegLib.segment import segment_preprocessed

    case = preprocess(read_flair(flair), skull_stripped=skull_stripped, device=device)
    results = {precision: segment_preprocessed(case, loaded, device, precision=precision) for precision in PRECISIONS}
    fp32, bf16 = results["fp32"], results["bf16"]
    row = {"case": name,
           "wmh_ml": {p: round(r.stats.total_volume_ml, 3) for p, r in results.items()},
           "lesions": {p: r.stats.count for p, r in results.items()},
           "dice_bf16_vs_fp32": round(dice(bf16.mask, fp32.mask), 4),
           "max_abs_p_change": round(float(np.abs(bf16.probability - fp32.probability).max()), 4),
           "network_seconds": {p: next(s["seconds"] for s in r.record["stages"] if s["stage"] == "network")
                               for p, r in results.items()}}
    if fp32.pathology_mask is not None:
        row["pathology_dice_bf16_vs_fp32"] = round(dice(bf16.pathology_mask, fp32.pathology_mask), 4)
    if truth is not None and Path(truth).exists():
        labels = sitk.GetArrayFromImage(read_label(truth))
        true_wmh = sitk.GetImageFromArray((labels == 1).astype(np.uint8))
        true_wmh.CopyInformation(fp32.mask)
        row["dice_vs_truth"] = {p: round(dice(r.mask, true_wmh), 4) for p, r in results.items()}
    return row


def crop_pass_seconds(loaded, device, repeats=3) -> dict:
    """Median seconds of one network pass (no flips) over the whole 160x192x160 crop, per precision."""
    import numpy as np

    from RadioWMHSegLib.inference import predict

    crop = np.random.default_rng(0).normal(size=(160, 192, 160)).astype(np.float32)
    seconds = {}
    for precision in PRECISIONS:
        predict(loaded.net, crop, device, tta=False, precision=precision)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            predict(loaded.net, crop, device, tta=False, precision=precision)
            times.append(time.perf_counter() - start)
        seconds[precision] = round(statistics.median(times), 2)
    return seconds


def bf16_cpu_flags() -> list:
    """The CPU flags that say whether bf16 is native (avx512_bf16, amx_bf16) or emulated (avx2 alone)."""
    try:
        flags = next(line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPOSITORY.parent / "shared" / "data"))
    parser.add_argument("--synthetic", nargs="*", help="synthetic datasets of cases no model trained on")
    parser.add_argument("--model", help="model folder (default: bundled)")
    parser.add_argument("--out", required=True, help="JSON record to write (a new file)")
    args = parser.parse_args()
    if Path(args.out).exists():
        sys.exit(f"{args.out} exists: give a new file name")

    import torch

    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.precision import measure_cpu_precision
    from bench_pipeline import machine

    device = torch.device("cpu")
    loaded = model_io.load_model(args.model, device)
    record = {"machine": {**machine(), "bf16_flags": bf16_cpu_flags()},
              "auto_precision_measurement": measure_cpu_precision(), "model": loaded.card.get("name"),
              "command": "python benchmarks/bench_precision.py " + " ".join(sys.argv[1:]),
              "crop_pass_seconds": crop_pass_seconds(loaded, device)}
    print(json.dumps(record), flush=True)
    rows = []
    for name, flair, truth, skull_stripped in all_cases(Path(args.data), args.synthetic):
        rows.append(compare_case(name, flair, truth, skull_stripped, loaded, device))
        print(json.dumps(rows[-1]), flush=True)
    changes = [r["dice_vs_truth"]["bf16"] - r["dice_vs_truth"]["fp32"] for r in rows if "dice_vs_truth" in r]
    record["summary"] = {
        "cases": len(rows),
        "dice_bf16_vs_fp32_min": min(r["dice_bf16_vs_fp32"] for r in rows),
        "dice_bf16_vs_fp32_mean": round(statistics.mean(r["dice_bf16_vs_fp32"] for r in rows), 4),
        "truth_dice_change_bf16_minus_fp32": {
            "mean": round(statistics.mean(changes), 4), "worst": round(min(changes), 4),
            "best": round(max(changes), 4)},
        "network_seconds_median": {p: round(statistics.median(r["network_seconds"][p] for r in rows), 2)
                                   for p in PRECISIONS},
    }
    record["cases"] = rows
    from RadioWMHSegLib.safe_write import atomic_write_json

    atomic_write_json(args.out, record)
    print(json.dumps(record["summary"], indent=1))


if __name__ == "__main__":
    main()
