"""Does a wider attention V-Net pay for its time? Two widths trained from random weights on the same patches.

    # here: pack the training caches small enough to travel to a lent GPU machine (64 MiB a call)
    python benchmarks/width_training.py pack runs/sim_vent_ds runs/glioma_train ... --leave-out case_105911 \
        --out .devjob/data --chunk-mb 40 [--low -12 --step 0.1]
    # on the GPU machine, the parts gathered in /tmp/data (one call each: docs/training.md); every width
    # takes the same batches, step for step
    python benchmarks/width_training.py train /tmp/data --out $OUT --minutes 7
    # here: each width's weights as a model folder, to be scored like any candidate (choose_model.py)
    python benchmarks/width_training.py adopt OUT_FOLDER --out runs/width_models
    # choose_model.py's scores with every network input clipped to the range the 8-bit caches held
    python benchmarks/width_training.py score --clip -4 6.2 runs/width_models/width-shipped ... -o OUT.json --real ...

Why a script of its own and not `radiowmhseg pretrain`: the trainer reads the datasets' cached arrays only
after checking them against their source images, and images plus SimpleITK do not fit the 64 MiB a call
may carry. So the caches travel without their sources, their float16 image quantised to 8 bits: by default
steps of 0.1 from -12, which holds the whole normalised range (preprocessing clips at +-12) with a rounding of
at most 0.05, half the noise the augmentation adds to some patches. The runs of 2026-11-26 used steps of 0.04
from -4 (`--low -4 --step 0.04`), which clipped the 3 % of brain voxels darker than -4, mostly CSF; `score`
clips the network's input the same way. The script drives the library's own pieces: the patch sampler
and augmenter (`training.data.PatchDataset`, the trainer's recipe: batch 2 of 64^3 patches, 2/3 centred
on lesions, each dataset drawn equally), the loss (`DiceCELoss`, three classes) and the network. Adam at
lr 1e-3 with the trainer's poly decay, fp32 (what `auto` picks on a GPU). The decay runs over a step count
fixed at step 100 from the rate of steps 20-100, so that the run ends inside --minutes (the runs of
2026-11-26 timed steps 1-100, loaders' start included, and ended early); every width sees exactly the same
batches in the same order.
"""

import argparse
import io
import json
import lzma
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from RadioWMHSegLib.safe_write import atomic_write_csv, atomic_write_text  # noqa: E402  (after the path)

WIDTHS = {"shipped": (8, 16, 32, 64, 128), "2x": (16, 32, 64, 128, 256)}
LOW, STEP = -12.0, 0.1  # 8-bit code q stands for LOW + q * STEP: q = 120 is 0 (outside the brain)
WARM_UP_STEPS = 100  # the step rate is timed over steps 20-100: the loaders' start (seconds) stays out of it


def quantise(image, low, step):
    return np.clip(np.rint((image.astype(np.float32) - low) / step), 0, 255).astype(np.uint8)


def dequantise(codes, low, step):
    return (low + codes.astype(np.float32) * step).astype(np.float16)


def pack(args):
    """Each cached case as one .npz.xz (image codes, label, brain mask), split into folders of --chunk-mb."""
    out = Path(args.out)
    if out.exists():
        sys.exit(f"{out} exists: give a new folder")
    if args.low % args.step > 1e-9 and args.step - args.low % args.step > 1e-9:
        sys.exit(f"--low {args.low} is not a whole number of --step {args.step}: 0 (outside the brain) would move")
    for dataset in args.datasets:  # all checked before anything is written
        if not (Path(dataset) / "preprocessed" / "record.json").exists():
            sys.exit(f"{dataset} has no training cache (preprocessed/record.json): train on it once, or give "
                     "another dataset")
    part, part_bytes, manifest = 1, 0, []
    for dataset in args.datasets:
        record = json.loads((Path(dataset) / "preprocessed" / "record.json").read_text())
        for name, entry in sorted(record["cases"].items()):
            if name in args.leave_out:
                continue
            with np.load(Path(dataset) / "preprocessed" / entry["file"]) as data:
                arrays = {"image": quantise(data["image"], args.low, args.step), "label": data["label"],
                          "brain_mask": data["brain_mask"]}
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            blob = lzma.compress(buffer.getvalue(), preset=6)
            if part_bytes and part_bytes + len(blob) > args.chunk_mb * 1e6:
                part, part_bytes = part + 1, 0
            target = out / f"part{part}" / f"{record['dataset']}__{name}.npz.xz"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
            part_bytes += len(blob)
            manifest.append({"dataset": record["dataset"], "case": name, "part": part, "bytes": len(blob)})
    manifest = {"low": args.low, "step": args.step, "cases": manifest}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1), overwrite=True)
    print(f"{len(manifest['cases'])} cases in {part} part(s) under {out}")


def load_cases(data_dir):
    from RadioWMHSegLib.training.data import foreground_labels
    from RadioWMHSegLib.training.sampling import prepare_case

    manifest = json.loads((Path(data_dir) / "manifest.json").read_text())
    by_dataset = {}
    for entry in manifest["cases"]:
        path = Path(data_dir) / f"part{entry['part']}" / f"{entry['dataset']}__{entry['case']}.npz.xz"
        with np.load(io.BytesIO(lzma.decompress(path.read_bytes()))) as data:
            image = dequantise(data["image"], manifest["low"], manifest["step"])
            case = prepare_case(entry["case"], entry["dataset"], image, data["label"], data["brain_mask"],
                                foreground_labels("class"))
        by_dataset.setdefault(entry["dataset"], []).append(case)
    return by_dataset


class Width:
    """One network with its optimiser, and the GPU time its steps took."""

    def __init__(self, name, channels, device, total_steps):
        import torch

        from RadioWMHSegLib.network import AttentionVNet

        torch.manual_seed(0)
        self.name, self.total_steps = name, total_steps  # total_steps: a one-element list, fixed after warm-up
        self.net = AttentionVNet(out_channels=3, channels=channels).to(device)
        self.net = self.net.to(memory_format=torch.channels_last_3d)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._poly)
        self.seconds, self.losses = 0.0, []

    def _poly(self, step):
        """The trainer's poly decay (_lr_lambda), over a total that is only known after the warm-up."""
        return max(1.0 - step / self.total_steps[0], 0.0) ** 0.9

    def step(self, image, target, valid, loss_fn):
        import torch

        start = torch.cuda.Event(enable_timing=True) if image.is_cuda else None
        end = torch.cuda.Event(enable_timing=True) if image.is_cuda else None
        began = time.perf_counter()
        if start is not None:
            start.record()
        loss = loss_fn(self.net(image), target, valid)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        if end is not None:
            end.record()
            end.synchronize()
            self.seconds += start.elapsed_time(end) / 1000.0
        else:
            self.seconds += time.perf_counter() - began
        self.losses.append(float(loss.detach()))


def train(args):
    import types

    import torch
    from torch.utils.data import DataLoader

    # the GPU machine has no SimpleITK: datasets.py imports it, training from these caches never calls it
    import sitk_stub  # noqa: F401  (benchmarks/ is on the path)

    from RadioWMHSegLib.training.data import PatchDataset
    from RadioWMHSegLib.training.loss import DiceCELoss, targets_for

    started = time.time()
    out = Path(args.out)
    if not (Path(args.data) / "manifest.json").exists():
        sys.exit(f"{args.data} has no manifest.json: give the folder `pack` wrote, its parts gathered in it")
    if (out / "width_run.json").exists():
        sys.exit(f"{out} holds a run already: give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cases = load_cases(args.data)
    print(f"{sum(len(c) for c in cases.values())} cases of {len(cases)} datasets loaded in "
          f"{time.time() - started:.0f} s; device {device}", flush=True)
    total_steps = [10**9]  # until the warm-up has timed a step
    widths = [Width(name, WIDTHS[name], device, total_steps) for name in args.widths]
    loss_fn = DiceCELoss()
    config = types.SimpleNamespace(seed=0, patch_size=(64, 64, 64), augmentation=None, augment=True,
                                   steps_per_epoch=args.steps_per_epoch, batch_size=2, lesion_fraction=2.0 / 3.0)
    deadline = started + args.minutes * 60
    log, step, epoch, train_started = [], 0, 0, time.time()
    while step < total_steps[0] and time.time() < deadline:
        loader = DataLoader(PatchDataset(cases, config, epoch, 0), batch_size=2, shuffle=False,
                            num_workers=args.workers, drop_last=True, persistent_workers=False)
        for image, label in loader:
            image = image.to(device).contiguous(memory_format=torch.channels_last_3d)
            target, valid = targets_for(label.to(device), "class")
            for width in widths:
                width.step(image, target, valid, loss_fn)
            step += 1
            if step == 20:
                rate_started = time.time()
            if step == WARM_UP_STEPS:  # the poly decay ends where the time budget ends, with a 10 % margin
                rate = (step - 20) / (time.time() - rate_started)
                total_steps[0] = step + int(0.9 * rate * (deadline - time.time()))
                print(f"{rate:.1f} steps/s over steps 20-{step}: {total_steps[0]} steps in all", flush=True)
            if step % args.log_every == 0:
                row = {"step": step, "seconds": round(time.time() - train_started, 1),
                       "lr": widths[0].scheduler.get_last_lr()[0]}
                for width in widths:
                    row[f"loss_{width.name}"] = round(float(np.mean(width.losses[-args.log_every:])), 5)
                    row[f"gpu_s_{width.name}"] = round(width.seconds, 1)
                log.append(row)
                print(json.dumps(row), flush=True)
            if step >= total_steps[0] or time.time() >= deadline:
                break
        epoch += 1
    for width in widths:
        state = {k: v.detach().cpu().half() for k, v in width.net.state_dict().items()}  # < 16 MiB a file
        torch.save(state, out / f"width_{width.name}.pt")
    atomic_write_csv(out / "width_log.csv", log, list(log[0]) if log else ["step"], overwrite=True)
    record = {
        "command": " ".join(sys.argv),
        "machine": {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor(),
                    "torch": torch.__version__, "python": platform.python_version(), "workers": args.workers},
        "cases": {name: [c.name for c in group] for name, group in cases.items()},
        "steps": step, "planned_steps": total_steps[0], "batch": 2, "patch": 64, "lr": 1e-3, "precision": "fp32",
        "wall_s": round(time.time() - train_started, 1),
        "widths": {w.name: {"channels": list(WIDTHS[w.name]), "parameters": sum(p.numel() for p in w.net.parameters()),
                            "gpu_s": round(w.seconds, 1), "s_per_step": round(w.seconds / max(step, 1), 4),
                            "loss_last_500": round(float(np.mean(w.losses[-500:])), 5)} for w in widths},
    }
    atomic_write_text(out / "width_run.json", json.dumps(record, indent=2), overwrite=True)
    print(json.dumps(record["widths"]), flush=True)


def adopt(args):
    """Each width's weights as a model folder, its card the bundled one's with this run's architecture and record."""
    import torch

    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.network import AttentionVNet

    if not (Path(args.run) / "width_run.json").exists():
        sys.exit(f"{args.run} has no width_run.json: give the folder `train` wrote")
    run = json.loads((Path(args.run) / "width_run.json").read_text())
    bundled = json.loads((model_io.bundled_model_dir() / model_io.CARD_FILE).read_text())
    for name, info in run["widths"].items():
        net = AttentionVNet(out_channels=3, channels=info["channels"])
        state = torch.load(Path(args.run) / f"width_{name}.pt", map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() for k, v in state.items()})
        card = {k: v for k, v in bundled.items() if k not in ("weights_sha256", "training", "created")}
        card["name"] = f"width-{name}"
        card["architecture"] = {"class": "AttentionVNet", "config": net.config}
        card["training"] = {"experiment": "benchmarks/width_training.py", **{k: run[k] for k in (
            "command", "machine", "cases", "steps", "batch", "patch", "lr", "precision")}}
        print(model_io.save_model(net, card, args.out, card["name"]))


def score(args):
    """choose_model.py run with each network's input clipped to --clip LOW HIGH, as the 8-bit training caches were."""
    import torch

    import choose_model
    from RadioWMHSegLib import model_io, safe_write

    class TrainingRangeInput(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.config = net, net.config

        def forward(self, image):
            return self.net(image.clamp(*args.clip))

    load_model = model_io.load_model

    def load_clipped(*arguments, **options):
        loaded = load_model(*arguments, **options)
        loaded.net = TrainingRangeInput(loaded.net)
        return loaded

    model_io.load_model = load_clipped
    sys.argv = ["choose_model.py", *args.choose_model_arguments]
    choose_model.main()
    flag = "-o" if "-o" in args.choose_model_arguments else "--output"
    output = Path(args.choose_model_arguments[args.choose_model_arguments.index(flag) + 1])
    record = json.loads(output.read_text())
    record["command"] = (f"python benchmarks/width_training.py score --clip {args.clip[0]} {args.clip[1]} "
                         + " ".join(args.choose_model_arguments))
    record["input_clipped_to"] = args.clip
    safe_write.atomic_write_json(output, record, overwrite=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack")
    p.add_argument("datasets", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--leave-out", nargs="*", default=[], help="case names kept out (validation cases)")
    p.add_argument("--chunk-mb", type=float, default=40.0)
    p.add_argument("--low", type=float, default=LOW, help="intensity of 8-bit code 0")
    p.add_argument("--step", type=float, default=STEP, help="intensity between codes")
    p = commands.add_parser("train")
    p.add_argument("data")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=7.0)
    p.add_argument("--widths", nargs="+", default=list(WIDTHS), choices=list(WIDTHS))
    p.add_argument("--workers", type=int, default=12)
    p.add_argument("--steps-per-epoch", type=int, default=500)
    p.add_argument("--log-every", type=int, default=100)
    p = commands.add_parser("adopt")
    p.add_argument("run", help="the folder train wrote (width_run.json, width_*.pt)")
    p.add_argument("--out", required=True)
    p = commands.add_parser("score")
    p.add_argument("--clip", type=float, nargs=2, required=True, metavar=("LOW", "HIGH"))
    p.add_argument("choose_model_arguments", nargs=argparse.REMAINDER,
                   help="choose_model.py's arguments, its -o included")
    args = parser.parse_args(argv)
    {"pack": pack, "train": train, "adopt": adopt, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
