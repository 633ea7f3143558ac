"""The training loop of the attention V-Net on preprocessed crop-grid cases, for pre-training, every
fine-tuning strategy and DDP.

One function, `train(config)`, runs a whole (or resumed) run:
- settings checked first (config.py); data cached, split and served as lesion-biased, augmented
  patches (data.py, sampling.py, augmentation.py);
- Dice + cross-entropy on softmax outputs (loss.py); Adam, poly or cosine learning-rate decay per
  step; an 'epoch' is a fixed number of steps;
- validation Dice on held-out cases over the whole crop after each epoch (validation.py); best and
  last checkpoints (checkpoints.py);
- every patch, augmentation and dropout mask is a pure function of (seed, epoch, step, rank), so a
  run resumed from its last checkpoint ends with the same weights as one never interrupted;
- under torchrun, one process per GPU (or CPU process on gloo), only rank 0 writes (distributed.py).
The best weights end as a model folder with a card holding data and recipe (card.py).
Fine-tuning from a model is finetune.py, above this loop.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CancelledError, InputError
from ..precision import resolve_precision
from . import checkpoints, distributed, run_log, transfer
from .card import PLATEAU, save_final_model
from .config import TrainConfig, check_config  # TrainConfig: imported from here by callers too
from .data import dataset_weights, load_training_cases, patch_loader, preprocess_all, split_cases
from .loss import DiceCELoss, n_classes, targets_for
from .validation import validation_dice

LOG_CSV = "training_log.csv"
CURVES_PNG = "training_curves.png"


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


def _step_seed(*parts) -> int:
    return int(np.random.default_rng([int(p) for p in parts]).integers(2**62))


def _lr_lambda(schedule, total_steps):
    def poly(step):
        return max(1.0 - step / total_steps, 0.0) ** 0.9

    def cosine(step):
        return 0.5 * (1.0 + math.cos(math.pi * min(step / total_steps, 1.0)))

    return poly if schedule == "poly" else cosine


def train(config: TrainConfig, progress=None, cancel=None) -> TrainResult:
    """Train (or resume) the run described by `config`; see the module docstring.

    progress(fraction, text) is called as work advances; cancel() returning True stops at the next
    step with CancelledError (the last finished epoch stays resumable).
    """
    from ..device import resolve_device

    config = check_config(config)
    context = distributed.context_from_environment()
    device = distributed.setup(context, resolve_device(config.device))
    try:
        return _train(config, context, device, progress, cancel)
    finally:
        distributed.teardown(context)


def _network(config, checkpoint, device):
    """(net on device, its parent record, frozen modules, memory format) at the start of this session."""
    import torch

    torch.manual_seed(config.seed)  # random initialisation is part of the recipe
    net_config = {k: v for k, v in (("channels", config.channels), ("convs", config.convs)) if v is not None}
    net, parent = transfer.initial_network(config.strategy, net_config, config.source_model, config.dropout,
                                           out_channels=n_classes(config.label2))
    levels = len(net.config["channels"])
    if any(p % 2 ** (levels - 1) for p in config.patch_size):
        raise InputError(f"patch sides {config.patch_size} must divide by {2 ** (levels - 1)} for this network")
    frozen = transfer.apply_strategy(net, config.strategy)
    if checkpoint is not None:
        net.load_state_dict(checkpoint["model"])
    net.to(device)
    memory_format = torch.channels_last_3d if config.channels_last else torch.contiguous_format
    net.to(memory_format=memory_format)
    return net, parent, frozen, memory_format


def _optimiser(net, config, checkpoint):
    """(optimizer, scheduler, history, best dice, best epoch, first epoch), restored from the checkpoint."""
    import torch

    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * config.steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.lr_schedule, total_steps))
    if checkpoint is None:
        return optimizer, scheduler, [], -1.0, None, 0
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    return (optimizer, scheduler, checkpoint["history"], checkpoint["best_dice"], checkpoint["best_epoch"],
            checkpoint["epoch"] + 1)


def _stop_reason(config, epochs_this_session, session_started):
    if config.stop_after_epochs is not None and epochs_this_session >= config.stop_after_epochs:
        return "session epoch budget"
    if config.time_limit_s is not None and time.time() - session_started >= config.time_limit_s:
        return "time limit"
    return None


def _train(config, context, device, progress, cancel):
    import torch
    from tqdm import tqdm

    run_dir = Path(config.run_dir)
    config, checkpoint = checkpoints.resume_state(config, run_dir)
    record = checkpoints.finished_record(run_dir, checkpoint)
    if record is not None:
        if context.is_main:
            print(f"run {run_dir} is already finished: model {record['model_dir']}")
        return TrainResult(run_dir, Path(record["model_dir"]), True, record["epochs_done"], record["steps_done"],
                           record.get("best_val_dice", float("nan")), checkpoint["history"], context.rank)
    if context.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    precision = resolve_precision(config.precision, device)
    session_started = time.time()

    prepared = preprocess_all(config, context, progress)
    training, validation, prepared = split_cases(config, prepared)
    cases_by_dataset = load_training_cases(training, config.label2)
    weights = dataset_weights(training, config.target_share)
    validation_arrays = [cached.load()[:2] for cached in validation] if context.is_main else []

    net, parent, frozen, memory_format = _network(config, checkpoint, device)
    model = distributed.wrap(net, context, device)
    optimizer, scheduler, history, best_dice, best_epoch, start_epoch = _optimiser(net, config, checkpoint)
    if context.is_main:
        checkpoints.write_config(run_dir, config)
        if weights is not None:
            shares = ", ".join(f"{key.split('@')[0]} {share:.0%}" for key, share in sorted(weights.items()))
            print(f"patches drawn from: {shares}", flush=True)

    total_steps = config.epochs * config.steps_per_epoch
    num_workers = config.num_workers if config.num_workers is not None else (4 if device.type == "cuda" else 0)
    loss_fn = DiceCELoss()
    bf16 = precision == "bf16"
    stop_reason = None
    epochs_this_session = 0
    epoch = start_epoch - 1
    for epoch in range(start_epoch, config.epochs):
        epoch_started = time.time()
        transfer.set_train_mode(net, frozen)
        loader = patch_loader(cases_by_dataset, config, epoch, context.rank, num_workers, weights)
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
            checkpoints.save_epoch(run_dir, config, net, optimizer, scheduler, history, best_dice, best_epoch,
                                   precision, epoch, improved, val_dice)
            run_log.write_csv(run_dir / LOG_CSV, history)
            run_log.write_curves_png(run_dir / CURVES_PNG, history, title=f"{config.stage} ({config.strategy})")
            scored = "no validation cases" if math.isnan(val_dice) else f"val Dice {val_dice:.4f}"
            print(f"epoch {epoch + 1}/{config.epochs}: loss {epoch_loss:.4f} {scored} ({row['seconds']:.0f} s)",
                  flush=True)
        stop_reason = _stop_reason(config, epochs_this_session, session_started)
        if config.patience is not None and validation and epoch + 1 - best_epoch >= config.patience:
            stop_reason = PLATEAU  # the best weights are kept, so further epochs would only cost time
        if distributed.broadcast_flag(context, stop_reason is not None, device) and epoch + 1 < config.epochs:
            stop_reason = stop_reason or "rank 0 stopped"
            break
        stop_reason = None

    epochs_done = epoch + 1
    completed = epochs_done >= config.epochs or stop_reason == PLATEAU
    model_dir = None
    if context.is_main and (completed or stop_reason == "time limit"):
        if stop_reason == PLATEAU:
            print(f"validation Dice has not improved for {config.patience} epochs: stopped after epoch {epochs_done}, "
                  f"best epoch {best_epoch}")
        model_dir = save_final_model(config, net.config, run_dir, prepared, training, validation, parent, precision,
                                     history, best_dice, best_epoch, epochs_done, context, device,
                                     time.time() - session_started, stop_reason)
    elif context.is_main:
        print(f"stopped after epoch {epochs_done} ({stop_reason}); continue with --resume on {run_dir}")
    distributed.barrier(context)
    return TrainResult(run_dir, model_dir, completed, epochs_done, epochs_done * config.steps_per_epoch,
                       best_dice if best_dice >= 0 else float("nan"), history, context.rank)


def pretrain(datasets, run_dir, progress=None, cancel=None, **options) -> TrainResult:
    """Pre-train from random weights on one or more datasets (synthetic cohorts, BraTS, ...)."""
    config = TrainConfig(datasets=list(datasets), run_dir=str(run_dir), stage="pretrain", strategy="scratch",
                         **options)
    return train(config, progress=progress, cancel=cancel)
