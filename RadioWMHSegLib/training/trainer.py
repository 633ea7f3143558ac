"""Training of the attention V-Net on preprocessed crop-grid cases: patches, loss, checkpoints, resume.

One function, `train(config)`, serves pre-training, every fine-tuning strategy and DDP:
- lesion-biased patches (sampling.py) with spatial and intensity augmentation (augmentation.py);
- Dice + cross-entropy on softmax outputs; label 2 counted as WMH, as background, or ignored;
- Adam, poly or cosine learning-rate decay per step; an 'epoch' is a fixed number of steps;
- validation Dice on held-out cases over the whole crop after each epoch; best and last checkpoints;
- every patch, augmentation and dropout mask is a pure function of (seed, epoch, step, rank), so a
  run resumed from its last checkpoint ends with the same weights as one never interrupted;
- under torchrun, one process per GPU (or CPU process on gloo), only rank 0 writes.
The best weights end as a model folder (model_io.save_model) with a card holding data and recipe.
"""

import dataclasses
import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import model_io, safe_write
from ..errors import CancelledError, DatasetError, InputError
from ..precision import PRECISIONS, resolve_precision
from . import distributed, run_log, transfer
from .augmentation import DEFAULT_AUGMENTATION, Augmenter, margin_for
from .sampling import DEFAULT_LESION_FRACTION, prepare_case, sample_region

LABEL2_MODES = ("foreground", "background", "ignore")
SCHEDULES = ("poly", "cosine")
CHECKPOINT_LAST = "checkpoint_last.pt"
CHECKPOINT_BEST = "checkpoint_best.pt"
CONFIG_FILE = "config.json"
RECORD_FILE = "record.json"
LOG_CSV = "training_log.csv"
CURVES_PNG = "training_curves.png"
CHECKPOINT_FORMAT = 1


@dataclass
class TrainConfig:
    datasets: list  # dataset folders trained on; validation cases are the last of the first one
    run_dir: str
    source_datasets: list = field(default_factory=list)  # trained on together with `datasets` ('mixed')
    stage: str = "pretrain"  # 'pretrain' or 'finetune', for the card
    strategy: str = "scratch"  # see transfer.STRATEGIES
    source_model: str = None  # model folder the strategy starts from
    epochs: int = 50
    steps_per_epoch: int = 250
    batch_size: int = 2
    patch_size: tuple = (64, 64, 64)  # (z, y, x)
    lr: float = 1e-3
    lr_schedule: str = "poly"
    weight_decay: float = 0.0
    val_cases: int = 2
    seed: int = 0
    precision: str = "auto"  # bf16 autocast where this machine computes it fast (precision.py), else fp32
    label2: str = "background"
    dropout: float = None  # None: the network's (or source model's) own
    channels: tuple = None  # None: network.DEFAULT_CHANNELS
    convs: tuple = None
    lesion_fraction: float = DEFAULT_LESION_FRACTION
    augment: bool = True
    augmentation: dict = None  # overrides of augmentation.DEFAULT_AUGMENTATION
    first_cases: int = None  # use only the first N cases of the first dataset (experiment training sizes)
    fold: int = None  # train/validate on this fold of the first dataset's splits.json (val_cases 0: no validation)
    grid: str = "crop"  # 'as_is' keeps MNI-space images on their own grid (sub-box datasets)
    model_name: str = "radiowmhseg-model"
    # Session settings: how and where this process runs, not part of the recipe (may change on resume).
    device: str = "auto"
    models_dir: str = None  # where the final model folder goes; None: the run folder
    cache_root: str = None  # None: <dataset>/preprocessed
    num_workers: int = None  # data-loading processes; None: 0 on CPU, 4 on CUDA
    channels_last: bool = True  # channels_last_3d layout: with bf16 ~2x faster for the full-size net on CPU
    resume: bool = False
    stop_after_epochs: int = None  # end this session after so many epochs (resume later)
    time_limit_s: float = None  # end after the epoch that passes this time; the model is still saved
    show_progress: bool = True


SESSION_FIELDS = ("device", "models_dir", "cache_root", "num_workers", "channels_last", "resume", "stop_after_epochs",
                  "time_limit_s", "show_progress")


@dataclass
class TrainResult:
    run_dir: Path
    model_dir: Path  # None when the session stopped before the end (resume to finish)
    completed: bool
    epochs_done: int
    steps_done: int
    best_val_dice: float
    history: list
    rank: int = 0  # only rank 0 writes and reports under torchrun


def _check_config(config: TrainConfig) -> TrainConfig:
    config = dataclasses.replace(config)
    if isinstance(config.datasets, (str, Path)):
        config.datasets = [config.datasets]
    config.datasets = [str(p) for p in config.datasets]
    config.source_datasets = [str(p) for p in (config.source_datasets or [])]
    if not config.datasets:
        raise InputError("no training dataset given: name at least one dataset folder")
    patch = config.patch_size
    patch = (int(patch),) * 3 if isinstance(patch, (int, float)) else tuple(int(s) for s in patch)
    if len(patch) != 3 or min(patch) < 8:
        raise InputError(f"patch size {config.patch_size} must be one or three sides of at least 8 voxels")
    config.patch_size = patch
    transfer.check_strategy(config.strategy)
    if config.label2 not in LABEL2_MODES:
        raise InputError(f"unknown label-2 handling '{config.label2}': choose one of {', '.join(LABEL2_MODES)}")
    if config.precision not in PRECISIONS:
        raise InputError(f"unknown precision '{config.precision}': choose one of {', '.join(PRECISIONS)}")
    if config.lr_schedule not in SCHEDULES:
        raise InputError(f"unknown learning-rate schedule '{config.lr_schedule}': choose poly or cosine")
    for name in ("epochs", "steps_per_epoch", "batch_size"):
        if int(getattr(config, name)) < 1:
            raise InputError(f"{name.replace('_', ' ')} must be at least 1")
    if config.val_cases < 0:
        raise InputError("the number of validation cases cannot be negative")
    if config.strategy == "mixed" and not config.source_datasets:
        raise InputError("strategy 'mixed' trains on source and target together: give the source dataset(s)")
    for name in ("channels", "convs"):
        value = getattr(config, name)
        setattr(config, name, None if value is None else [int(v) for v in value])
    return config


def _recipe(config: TrainConfig) -> dict:
    data = dataclasses.asdict(config)
    return {k: v for k, v in data.items() if k not in SESSION_FIELDS}


def _step_seed(*parts) -> int:
    return int(np.random.default_rng([int(p) for p in parts]).integers(2**62))


def _lr_lambda(schedule, total_steps):
    def poly(step):
        return max(1.0 - step / total_steps, 0.0) ** 0.9

    def cosine(step):
        return 0.5 * (1.0 + math.cos(math.pi * min(step / total_steps, 1.0)))

    return poly if schedule == "poly" else cosine


# ----------------------------------------------------------------------------- data


def _load_dataset(path):
    from ..datasets import load_dataset

    return load_dataset(path)


def _cache_dir(config, dataset):
    if config.cache_root is None:
        return None
    return Path(config.cache_root) / safe_write.safe_name(dataset.name)


def _preprocess_all(config, context, progress):
    """[(role, Dataset, [CachedCase])]; rank 0 fills the cache, the others then read it."""
    from .preprocess_dataset import preprocess_dataset

    entries = [("target", p) for p in config.datasets] + [("source", p) for p in config.source_datasets]
    loaded = [(role, _load_dataset(path)) for role, path in entries]
    if context.is_main:
        for _, dataset in loaded:
            preprocess_dataset(dataset, _cache_dir(config, dataset), grid=config.grid, progress=progress)
    distributed.barrier(context)
    return [(role, ds, preprocess_dataset(ds, _cache_dir(config, ds), grid=config.grid)) for role, ds in loaded]


def _split(config, prepared):
    """(training [(role, dataset, CachedCase)], validation [CachedCase]): the last val_cases of dataset 1,
    or with config.fold the train and val cases of that fold of its splits.json (dataset_split.py)."""
    first_cases, fold_val = prepared[0][2], None
    if config.fold is not None:
        from ..dataset_split import fold_case_names

        train_names, val_names = fold_case_names(prepared[0][1], config.fold)
        by_name = {c.name: c for c in first_cases}
        first_cases, fold_val = [by_name[n] for n in train_names], [by_name[n] for n in val_names]
    if config.first_cases is not None:
        if config.first_cases > len(first_cases):
            raise DatasetError(f"dataset {prepared[0][1].name} has {len(first_cases)} training cases, fewer than the "
                               f"{config.first_cases} asked for")
        first_cases = first_cases[:config.first_cases]
    prepared = [(prepared[0][0], prepared[0][1], first_cases)] + list(prepared[1:])
    if fold_val is not None:
        return [(r, ds, c) for r, ds, cases in prepared for c in cases], fold_val if config.val_cases else [], prepared
    n_val = config.val_cases
    if n_val >= len(first_cases):
        raise DatasetError(
            f"dataset {prepared[0][1].name} has {len(first_cases)} cases, too few to hold out {n_val} for "
            "validation and still train: lower --val-cases"
        )
    validation = first_cases[len(first_cases) - n_val:] if n_val else []
    held_out = {id(c) for c in validation}
    training = [(role, ds, c) for role, ds, cases in prepared for c in cases if id(c) not in held_out]
    return training, validation, prepared


def _foreground_labels(label2):
    return (1, 2) if label2 == "foreground" else (1,)


def _load_training_cases(training, label2):
    by_dataset = {}
    for _, dataset, cached in training:
        image, label, brain_mask = cached.load()
        key = f"{dataset.name}@{dataset.path}"
        by_dataset.setdefault(key, []).append(
            prepare_case(cached.name, dataset.name, image, label, brain_mask, _foreground_labels(label2))
        )
    return by_dataset


class PatchDataset:
    """Map-style dataset whose item i of (epoch, rank) is a pure function of (seed, epoch, rank, i)."""

    def __init__(self, cases_by_dataset, config, epoch, rank):
        self.cases_by_dataset = cases_by_dataset
        self.config = config
        self.epoch = epoch
        self.rank = rank
        self.augmenter = Augmenter(config.patch_size, config.augmentation, enabled=config.augment)
        margin = margin_for(config.patch_size, self.augmenter.settings) if config.augment else (0, 0, 0)
        self.region = tuple(p + 2 * m for p, m in zip(config.patch_size, margin))

    def __len__(self):
        return self.config.steps_per_epoch * self.config.batch_size

    def __getitem__(self, index):
        import torch

        rng = np.random.default_rng([self.config.seed, self.epoch, self.rank, index])
        image, label, _ = sample_region(self.cases_by_dataset, self.region, rng, self.config.lesion_fraction)
        image, label = self.augmenter(image, label, rng.integers(2**32))
        return torch.from_numpy(image[None]), torch.from_numpy(label[None])


def _worker_init(_):
    import torch

    torch.set_num_threads(1)


def _loader(dataset, config, num_workers):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=num_workers,
                      worker_init_fn=_worker_init if num_workers else None, drop_last=True)


# ----------------------------------------------------------------------------- loss and validation


class DiceCELoss:
    """Soft Dice of the WMH channel (over the whole batch) + cross-entropy, both masked by `valid`.

    With nothing ignored this is MONAI's DiceCELoss(softmax, one-hot, no background in the Dice,
    batch Dice); voxels of label 2 under label2='ignore' count in neither term.
    """

    def __init__(self):
        from monai.losses import DiceLoss

        self.dice = DiceLoss(include_background=False, softmax=False, batch=True)

    def __call__(self, logits, target, valid):
        import torch
        import torch.nn.functional as F

        logits = logits.float()
        probabilities = torch.softmax(logits, dim=1)
        one_hot = F.one_hot(target[:, 0], num_classes=logits.shape[1]).movedim(-1, 1).float()
        dice = self.dice(probabilities * valid, one_hot * valid)
        cross_entropy = F.cross_entropy(logits, target[:, 0], reduction="none")
        cross_entropy = (cross_entropy * valid[:, 0]).sum() / valid.sum().clamp_min(1.0)
        return dice + cross_entropy


def targets_for(label, label2):
    """(class target long (B,1,...), valid-voxel mask float (B,1,...)) from 0/1/2 labels."""
    import torch

    if label2 == "foreground":
        target = label > 0
    else:
        target = label == 1
    valid = (label != 2) if label2 == "ignore" else torch.ones_like(label, dtype=torch.bool)
    return target.long(), valid.float()


def dice_score(pred, ref) -> float:
    total = int(pred.sum()) + int(ref.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(pred, ref).sum()) / total


def validation_dice(net, validation_arrays, device, precision, label2) -> float:
    """Mean Dice of P(WMH) >= 0.5 over the whole crop of each held-out case."""
    from ..inference import predict_probability

    scores = []
    for image, label in validation_arrays:
        probability = predict_probability(net, image.astype(np.float32), device=device, precision=precision)
        pred = probability >= 0.5
        ref = label > 0 if label2 == "foreground" else label == 1
        if label2 == "ignore":
            keep = label != 2
            pred, ref = pred & keep, ref & keep
        scores.append(dice_score(pred, ref))
    return float(np.mean(scores)) if scores else float("nan")


# ----------------------------------------------------------------------------- checkpoints


def _save_torch(path, obj):
    import torch

    safe_write.atomic_write_bytes_with(path, lambda tmp: torch.save(obj, tmp), overwrite=True, suffix=".pt")


def _load_checkpoint(path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InputError(f"checkpoint {path} cannot be read ({type(exc).__name__}): start a new run folder") from exc


def _contiguous_state(net):
    return {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}


# ----------------------------------------------------------------------------- the run


def train(config: TrainConfig, progress=None, cancel=None) -> TrainResult:
    """Train (or resume) the run described by `config`; see the module docstring.

    progress(fraction, text) is called as work advances; cancel() returning True stops at the next
    step with CancelledError (the last finished epoch stays resumable).
    """
    from ..device import resolve_device

    config = _check_config(config)
    context = distributed.context_from_environment()
    device = distributed.setup(context, resolve_device(config.device))
    try:
        return _train(config, context, device, progress, cancel)
    finally:
        distributed.teardown(context)


def _resume_state(config, run_dir):
    checkpoint_path = run_dir / CHECKPOINT_LAST
    if not checkpoint_path.exists():
        if (run_dir / CONFIG_FILE).exists() and not config.resume:
            raise InputError(f"{run_dir} already holds a training run: use --resume, or another run folder")
        return config, None
    if not config.resume:
        raise InputError(f"{run_dir} already holds a training run: use --resume to continue it, or another run folder")
    checkpoint = _load_checkpoint(checkpoint_path)
    # The stored recipe wins (it is what the checkpoint was trained with); session settings are new.
    session = {k: getattr(config, k) for k in SESSION_FIELDS}
    merged = TrainConfig(**{**checkpoint["config"], **session})
    given = _recipe(config)
    ignored = sorted(k for k, v in checkpoint["config"].items() if k in given and json.dumps(given[k], default=str)
                     != json.dumps(v, default=str))
    if ignored and int(os.environ.get("RANK", "0")) == 0:
        print(f"resuming {run_dir} with its stored recipe; these options differ and are not used: {', '.join(ignored)}")
    return _check_config(merged), checkpoint


def _train(config, context, device, progress, cancel):
    import torch
    from tqdm import tqdm

    run_dir = Path(config.run_dir)
    config, checkpoint = _resume_state(config, run_dir)
    record_path = run_dir / RECORD_FILE
    if checkpoint is not None and record_path.exists():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("completed") and record.get("model_dir") and Path(record["model_dir"]).exists():
            if context.is_main:
                print(f"run {run_dir} is already finished: model {record['model_dir']}")
            result = _result_from_record(run_dir, record, checkpoint)
            result.rank = context.rank
            return result
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    precision = resolve_precision(config.precision, device)
    session_started = time.time()

    prepared = _preprocess_all(config, context, progress)
    training, validation, prepared = _split(config, prepared)
    cases_by_dataset = _load_training_cases(training, config.label2)
    validation_arrays = [cached.load()[:2] for cached in validation] if context.is_main else []

    torch.manual_seed(config.seed)
    net_config = {k: v for k, v in (("channels", config.channels), ("convs", config.convs)) if v is not None}
    net, parent = transfer.initial_network(config.strategy, net_config, config.source_model, config.dropout)
    levels = len(net.config["channels"])
    if any(p % 2 ** (levels - 1) for p in config.patch_size):
        raise InputError(f"patch sides {config.patch_size} must divide by {2 ** (levels - 1)} for this network")
    frozen = transfer.apply_strategy(net, config.strategy)
    if checkpoint is not None:
        net.load_state_dict(checkpoint["model"])
    net.to(device)
    memory_format = torch.channels_last_3d if config.channels_last else torch.contiguous_format
    net.to(memory_format=memory_format)
    model = distributed.wrap(net, context, device)

    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * config.steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.lr_schedule, total_steps))
    history, best_dice, best_epoch, start_epoch = [], -1.0, None, 0
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        history = checkpoint["history"]
        best_dice, best_epoch = checkpoint["best_dice"], checkpoint["best_epoch"]
        start_epoch = checkpoint["epoch"] + 1
    if context.is_main:
        safe_write.atomic_write_json(run_dir / CONFIG_FILE, dataclasses.asdict(config), overwrite=True)

    num_workers = config.num_workers if config.num_workers is not None else (4 if device.type == "cuda" else 0)
    loss_fn = DiceCELoss()
    bf16 = precision == "bf16"
    stop_reason = None
    epochs_this_session = 0
    epoch = start_epoch - 1
    for epoch in range(start_epoch, config.epochs):
        epoch_started = time.time()
        transfer.set_train_mode(net, frozen)
        loader = _loader(PatchDataset(cases_by_dataset, config, epoch, context.rank), config, num_workers)
        losses = []
        bar = tqdm(total=config.steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step",
                   disable=not (context.is_main and config.show_progress), leave=False)
        for step, (image, label) in enumerate(loader):
            if cancel is not None and cancel():
                bar.close()
                raise CancelledError(f"training was cancelled; continue it later with --resume on {run_dir}")
            torch.manual_seed(_step_seed(config.seed, epoch, step, context.rank))  # dropout masks
            image = image.to(device).contiguous(memory_format=memory_format)
            target, valid = targets_for(label.to(device), config.label2)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(image)
            loss = loss_fn(logits, target, valid)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if progress is not None:
                done = epoch * config.steps_per_epoch + step + 1
                progress(done / total_steps, f"epoch {epoch + 1}/{config.epochs} step {step + 1} loss {losses[-1]:.3f}")
        bar.close()
        epoch_loss = distributed.average(context, float(np.mean(losses)), device)
        epochs_this_session += 1
        if context.is_main:
            val_dice = validation_dice(net, validation_arrays, device, precision, config.label2)
            row = {"epoch": epoch + 1, "step": (epoch + 1) * config.steps_per_epoch, "loss": round(epoch_loss, 6),
                   "val_dice": round(val_dice, 6) if not math.isnan(val_dice) else float("nan"),
                   "lr": scheduler.get_last_lr()[0], "seconds": round(time.time() - epoch_started, 2)}
            history.append(row)
            improved = math.isnan(val_dice) or val_dice > best_dice
            if improved:
                best_dice, best_epoch = (val_dice if not math.isnan(val_dice) else best_dice), epoch + 1
                _save_torch(run_dir / CHECKPOINT_BEST, {"model": _contiguous_state(net), "epoch": epoch,
                                                        "val_dice": val_dice})
            _save_torch(run_dir / CHECKPOINT_LAST, {
                "format": CHECKPOINT_FORMAT, "config": _recipe(config), "epoch": epoch,
                "model": _contiguous_state(net), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "history": history, "best_dice": best_dice,
                "best_epoch": best_epoch, "precision": precision,
                # Data order needs no state: it is derived from (seed, epoch, step, rank).
                "rng": {"torch": torch.get_rng_state(), "data_order": "seed, epoch, step, rank"},
            })
            run_log.write_csv(run_dir / LOG_CSV, history)
            run_log.write_curves_png(run_dir / CURVES_PNG, history, title=f"{config.stage} ({config.strategy})")
            print(f"epoch {epoch + 1}/{config.epochs}: loss {epoch_loss:.4f} val Dice {val_dice:.4f} "
                  f"({row['seconds']:.0f} s)", flush=True)
        stop_reason = None
        if config.stop_after_epochs is not None and epochs_this_session >= config.stop_after_epochs:
            stop_reason = "session epoch budget"
        elif config.time_limit_s is not None and time.time() - session_started >= config.time_limit_s:
            stop_reason = "time limit"
        if distributed.broadcast_flag(context, stop_reason is not None, device) and epoch + 1 < config.epochs:
            stop_reason = stop_reason or "rank 0 stopped"
            break
        stop_reason = None

    epochs_done = epoch + 1
    completed = epochs_done >= config.epochs
    model_dir = None
    if context.is_main and (completed or stop_reason == "time limit"):
        model_dir = _save_final_model(config, net.config, run_dir, prepared, training, validation, parent, precision,
                                      history, best_dice, best_epoch, epochs_done, context, device,
                                      time.time() - session_started, stop_reason)
    elif context.is_main:
        print(f"stopped after epoch {epochs_done} ({stop_reason}); continue with --resume on {run_dir}")
    distributed.barrier(context)
    return TrainResult(run_dir, model_dir, completed, epochs_done, epochs_done * config.steps_per_epoch,
                       best_dice if best_dice >= 0 else float("nan"), history, context.rank)


def _result_from_record(run_dir, record, checkpoint):
    return TrainResult(run_dir, Path(record["model_dir"]), True, record["epochs_done"], record["steps_done"],
                       record.get("best_val_dice", float("nan")), checkpoint["history"])


def _dataset_summary(role, dataset, cases):
    phenotypes = Counter(str(c.metadata.get("phenotype", "unknown")) for c in cases)
    return {"role": role, "name": dataset.name, "path": str(Path(dataset.path).resolve()), "space": dataset.space,
            "cases": len(cases), "phenotypes": dict(sorted(phenotypes.items()))}


def _save_final_model(config, net_config, run_dir, prepared, training, validation, parent, precision, history, best_dice,
                      best_epoch, epochs_done, context, device, seconds, stop_reason):
    import torch

    best_path = run_dir / CHECKPOINT_BEST
    source = best_path if best_path.exists() else run_dir / CHECKPOINT_LAST
    state = torch.load(source, map_location="cpu", weights_only=False)["model"]
    final_net = model_io.build_network({"class": "AttentionVNet", "config": net_config})
    final_net.load_state_dict(state)
    summaries = []
    for role, dataset, _ in prepared:
        used = [c for r, ds, c in training if ds is dataset and r == role]
        summaries.append(_dataset_summary(role, dataset, used))
    augmentation = dict(DEFAULT_AUGMENTATION, **(config.augmentation or {})) if config.augment else None
    recipe = {
        "stage": config.stage, "strategy": config.strategy, "lr": config.lr, "lr_schedule": config.lr_schedule,
        "weight_decay": config.weight_decay, "optimizer": "Adam", "loss": "Dice (WMH, batch) + cross-entropy",
        "epochs": config.epochs, "steps_per_epoch": config.steps_per_epoch, "batch_size": config.batch_size,
        "patch_size": list(config.patch_size), "lesion_fraction": config.lesion_fraction,
        "augmentation": augmentation, "label2": config.label2, "seed": config.seed, "precision": precision,
        "dropout": final_net.config["dropout"], "world_size": context.world_size, "device": device.type,
    }
    card = model_io.new_card(
        final_net, config.model_name,
        training={
            "datasets": summaries,
            "validation_cases": [c.name for c in validation],
            "fold": config.fold,
            "recipe": recipe,
            "epochs_done": epochs_done,
            "steps_done": epochs_done * config.steps_per_epoch,
            "patches_seen": epochs_done * config.steps_per_epoch * config.batch_size * context.world_size,
            "seconds_last_session": round(seconds, 1),
            "stopped_early": stop_reason,
            "run_dir": str(run_dir.resolve()),
        },
        metrics={"validation_dice": None if best_dice < 0 else best_dice, "best_epoch": best_epoch,
                 "validation_cases": len(validation)},
        parent=parent,
    )
    models_dir = Path(config.models_dir) if config.models_dir is not None else run_dir
    model_dir = model_io.save_model(final_net, card, models_dir, config.model_name)
    record = {"completed": stop_reason is None, "model_dir": str(model_dir.resolve()), "epochs_done": epochs_done,
              "steps_done": epochs_done * config.steps_per_epoch,
              "best_val_dice": None if best_dice < 0 else best_dice, "best_epoch": best_epoch}
    safe_write.atomic_write_json(run_dir / RECORD_FILE, record, overwrite=True)
    print(f"model saved to {model_dir}")
    return model_dir


def pretrain(datasets, run_dir, progress=None, cancel=None, **options) -> TrainResult:
    """Pre-train from random weights on one or more datasets (synthetic cohorts, BraTS, ...)."""
    config = TrainConfig(datasets=list(datasets), run_dir=str(run_dir), stage="pretrain", strategy="scratch",
                         **options)
    return train(config, progress=progress, cancel=cancel)
