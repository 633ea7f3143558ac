"""A training run's settings: the recipe (what is learnt; kept in checkpoints and the card) and the session
(how and where this process runs; may change on resume), checked once before any work.

Defaults come from choices.TRAINING_DEFAULTS, the same values `radiowmhseg pretrain` shows.
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..choices import GRIDS, LABEL2_MODES, LR_SCHEDULES, PRECISIONS, TRAINING_DEFAULTS
from ..errors import InputError
from . import transfer
from .sampling import DEFAULT_LESION_FRACTION

_D = TRAINING_DEFAULTS


@dataclass
class TrainConfig:
    datasets: list  # dataset folders trained on; validation cases are the last of the first one
    run_dir: str
    source_datasets: list = field(default_factory=list)  # trained on together with `datasets` ('mixed')
    stage: str = "pretrain"  # 'pretrain' or 'finetune', for the card
    strategy: str = "scratch"  # see transfer.py
    source_model: str = None  # model folder the strategy starts from
    epochs: int = _D["epochs"]
    steps_per_epoch: int = _D["steps_per_epoch"]
    batch_size: int = _D["batch_size"]
    patch_size: tuple = _D["patch_size"]  # (z, y, x)
    lr: float = _D["lr"]
    lr_schedule: str = _D["lr_schedule"]
    weight_decay: float = 0.0
    val_cases: int = _D["val_cases"]
    seed: int = _D["seed"]
    precision: str = _D["precision"]  # bf16 autocast where this machine computes it fast (precision.py), else fp32
    label2: str = _D["label2"]
    dropout: float = None  # None: the network's (or source model's) own
    channels: tuple = None  # None: network.DEFAULT_CHANNELS
    convs: tuple = None
    lesion_fraction: float = DEFAULT_LESION_FRACTION
    # Share of patches drawn from the target dataset(s), the rest from the sources; None: every dataset drawn
    # equally. Real cases beside synthetic sources score better on held-out real scans at a half share than at
    # one in seven (docs/experiment.md).
    target_share: float = None
    augment: bool = True
    augmentation: dict = None  # overrides of augmentation.DEFAULT_AUGMENTATION
    first_cases: int = None  # use only the first N cases of the first dataset (experiment training sizes)
    fold: int = None  # train/validate on this fold of the first dataset's splits.json (val_cases 0: no validation)
    # Validate on the training cases that first_cases leaves unused (up to val_cases of them), not on the fold's
    # val cases: in the experiment those are its test cases.
    val_on_unused: bool = False
    patience: int = _D["patience"]  # end training when validation Dice has not improved for so many epochs (None: never)
    grid: str = _D["grid"]  # 'as_is' keeps MNI-space images on their own grid (sub-box datasets)
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


def _check_choice(value, allowed, what):
    if value not in allowed:
        raise InputError(f"unknown {what} '{value}': choose one of {', '.join(allowed)}")


def check_config(config: TrainConfig) -> TrainConfig:
    """A checked copy of the config (lists made plain, patch size as three sides); InputError when wrong."""
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
    _check_choice(config.label2, LABEL2_MODES, "label-2 handling")
    _check_choice(config.precision, PRECISIONS, "precision")
    _check_choice(config.lr_schedule, LR_SCHEDULES, "learning-rate schedule")
    _check_choice(config.grid, GRIDS, "preprocessing grid")
    for name in ("epochs", "steps_per_epoch", "batch_size"):
        if int(getattr(config, name)) < 1:
            raise InputError(f"{name.replace('_', ' ')} must be at least 1")
    if config.patience is not None and int(config.patience) < 1:
        raise InputError("patience must be at least 1 epoch (or none, to train every epoch)")
    if config.val_cases < 0:
        raise InputError("the number of validation cases cannot be negative")
    config.target_share = check_target_share(config.target_share, bool(config.source_datasets))
    if config.strategy == "mixed" and not config.source_datasets:
        raise InputError("strategy 'mixed' trains on source and target together: give the source dataset(s)")
    for name in ("channels", "convs"):
        value = getattr(config, name)
        setattr(config, name, None if value is None else [int(v) for v in value])
    return config


def check_target_share(share, has_sources):
    """The share as a float (None stays None); InputError when it cannot be met."""
    if share is None:
        return None
    share = float(share)
    if not has_sources:
        raise InputError("a target share needs source datasets to share the patches with: give --source, or "
                         "leave the share out")
    if not 0.0 < share < 1.0:
        raise InputError(f"target share {share} must lie between 0 and 1 (0.5: half of the patches from the "
                         "target dataset(s), half from the sources)")
    return share


def recipe(config: TrainConfig) -> dict:
    """The config without its session settings: what a checkpoint was trained with."""
    data = dataclasses.asdict(config)
    return {k: v for k, v in data.items() if k not in SESSION_FIELDS}
