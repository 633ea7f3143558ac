"""What a wider attention V-Net costs on this machine: seconds per training step and per inference pass.

    python benchmarks/bench_network_width.py --out docs/bench_network_width.json [--repeats 5] [--precision bf16] \
        [--widths shipped]

Widths: the shipped one (8-16-32-64-128) and 1.5x and 2x wider. A training step is the trainer's (batch 2
of 64^3 patches, Dice + cross-entropy over 3 classes, Adam, channels_last_3d; fp32, or bf16 autocast as
`auto` picks on a CPU that computes bf16 natively); an inference pass is
one forward pass over the network's whole 160x192x160 crop, as `segment` runs it without TTA (with TTA:
four of them). The median of --repeats timed runs after one warm-up. Accuracy is not measured here: a
wider network cannot start from the shipped weights; `width_training.py` trains widths side by side for that.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)

WIDTHS = {"shipped": (8, 16, 32, 64, 128), "1.5x": (12, 24, 48, 96, 192), "2x": (16, 32, 64, 128, 256)}


def median_seconds(function, repeats) -> float:
    function()  # warm-up: allocator and kernel choice
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(channels, repeats, precision="fp32") -> dict:
    import torch

    from RadioWMHSegLib.network import AttentionVNet
    from RadioWMHSegLib.training.loss import DiceCELoss

    torch.manual_seed(0)
    net = AttentionVNet(out_channels=3, channels=channels).to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    loss_fn = DiceCELoss()
    image = torch.randn(2, 1, 64, 64, 64).contiguous(memory_format=torch.channels_last_3d)
    target = torch.randint(0, 3, (2, 1, 64, 64, 64))
    valid = torch.ones_like(target, dtype=torch.float32)

    def training_step():
        net.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = net(image)
        loss = loss_fn(logits, target, valid)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    crop = torch.randn(1, 1, 160, 192, 160).contiguous(memory_format=torch.channels_last_3d)

    def inference_pass():
        net.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            net(crop)

    return {"channels": list(channels), "parameters": sum(p.numel() for p in net.parameters()),
            "train_step_s": round(median_seconds(training_step, repeats), 3),
            "inference_crop_s": round(median_seconds(inference_pass, max(repeats // 2, 1)), 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="JSON file for the results")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--widths", nargs="+", choices=list(WIDTHS), default=list(WIDTHS),
                        help="which widths to time (default: all; 'shipped' alone to compare precisions)")
    args = parser.parse_args()

    from bench_pipeline import machine

    rows = {}
    for name in ["shipped"] + [w for w in args.widths if w != "shipped"]:  # the others are compared to it
        rows[name] = measure(WIDTHS[name], args.repeats, args.precision)
        print(name, json.dumps(rows[name]), flush=True)
    base = rows["shipped"]
    for row in rows.values():
        row["train_step_vs_shipped"] = round(row["train_step_s"] / base["train_step_s"], 2)
        row["inference_vs_shipped"] = round(row["inference_crop_s"] / base["inference_crop_s"], 2)
    result = {"machine": machine(), "precision": args.precision, "widths": rows,
              "command": f"python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}"}
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n", overwrite=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
