"""A run folder's state on disk: checkpoints (last and best), config.json, record.json, and resuming from them.

The last checkpoint holds everything a resumed run needs (recipe, weights, optimiser, scheduler,
history); data order needs no state, as it is derived from (seed, epoch, step, rank). Every file is
written atomically, so an interrupt leaves the previous epoch's checkpoint whole.
"""

import dataclasses
import json
import os
from pathlib import Path

from .. import safe_write
from ..errors import InputError
from .config import SESSION_FIELDS, TrainConfig, check_config, recipe

CHECKPOINT_LAST = "checkpoint_last.pt"
CHECKPOINT_BEST = "checkpoint_best.pt"
CONFIG_FILE = "config.json"
RECORD_FILE = "record.json"
CHECKPOINT_FORMAT = 1


def save_torch(path, obj):
    import torch

    safe_write.atomic_write_bytes_with(path, lambda tmp: torch.save(obj, tmp), overwrite=True, suffix=".pt")


def load_checkpoint(path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InputError(f"checkpoint {path} cannot be read ({type(exc).__name__}): start a new run folder") from exc


def contiguous_state(net):
    """The weights as plain contiguous CPU tensors (channels_last would otherwise be saved as it is)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}


def best_weights(run_dir):
    """The weights of the best epoch (the last one when no epoch was validated)."""
    run_dir = Path(run_dir)
    best_path = run_dir / CHECKPOINT_BEST
    source = best_path if best_path.exists() else run_dir / CHECKPOINT_LAST
    return load_checkpoint(source)["model"]


def save_epoch(run_dir, config, net, optimizer, scheduler, history, best_dice, best_epoch, precision, epoch,
               improved, val_dice):
    """The checkpoints after an epoch: the best one when it improved, the last one always."""
    import torch

    if improved:
        save_torch(run_dir / CHECKPOINT_BEST, {"model": contiguous_state(net), "epoch": epoch, "val_dice": val_dice})
    save_torch(run_dir / CHECKPOINT_LAST, {
        "format": CHECKPOINT_FORMAT, "config": recipe(config), "epoch": epoch,
        "model": contiguous_state(net), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "history": history, "best_dice": best_dice,
        "best_epoch": best_epoch, "precision": precision,
        # Data order needs no state: it is derived from (seed, epoch, step, rank).
        "rng": {"torch": torch.get_rng_state(), "data_order": "seed, epoch, step, rank"},
    })


def write_config(run_dir, config):
    """config.json: the whole config, session included, as this session runs it (for the reader)."""
    safe_write.atomic_write_json(Path(run_dir) / CONFIG_FILE, dataclasses.asdict(config), overwrite=True)


def resume_state(config, run_dir):
    """(config, last checkpoint or None): a used run folder needs resume; the stored recipe then wins."""
    checkpoint_path = run_dir / CHECKPOINT_LAST
    if not checkpoint_path.exists():
        if (run_dir / CONFIG_FILE).exists() and not config.resume:
            raise InputError(f"{run_dir} already holds a training run: use --resume, or another run folder")
        return config, None
    if not config.resume:
        raise InputError(f"{run_dir} already holds a training run: use --resume to continue it, or another run folder")
    checkpoint = load_checkpoint(checkpoint_path)
    # The stored recipe wins (it is what the checkpoint was trained with); session settings are new.
    session = {k: getattr(config, k) for k in SESSION_FIELDS}
    merged = TrainConfig(**{**checkpoint["config"], **session})
    given = recipe(config)
    ignored = sorted(k for k, v in checkpoint["config"].items() if k in given and json.dumps(given[k], default=str)
                     != json.dumps(v, default=str))
    if ignored and int(os.environ.get("RANK", "0")) == 0:
        print(f"resuming {run_dir} with its stored recipe; these options differ and are not used: {', '.join(ignored)}")
    return check_config(merged), checkpoint


def finished_record(run_dir, checkpoint):
    """record.json of a run that already ended with a model still on disk, else None."""
    record_path = Path(run_dir) / RECORD_FILE
    if checkpoint is None or not record_path.exists():
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("completed") and record.get("model_dir") and Path(record["model_dir"]).exists():
        return record
    return None


def write_record(run_dir, record):
    safe_write.atomic_write_json(Path(run_dir) / RECORD_FILE, record, overwrite=True)
