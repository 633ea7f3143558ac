"""`radiowmhseg pretrain`: train the attention V-Net from random weights on one or more datasets."""

from ..choices import DEVICE_CHOICES, GRIDS, LABEL2_MODES, LR_SCHEDULES, PRECISIONS, STRATEGY_LR, TRAINING_DEFAULTS


def lr_text(lr) -> str:
    """1e-4, not 0.0001: learning rates as people write them."""
    return f"{lr:.0e}".replace("e-0", "e-")


def lr_default_text(strategies) -> str:
    """'1e-4 for all/decoder, 1e-3 for ...': the learning rates the strategies take when none is given."""
    by_lr = {}
    for strategy in strategies:
        by_lr.setdefault(STRATEGY_LR[strategy], []).append(strategy)
    return ", ".join(f"{lr_text(lr)} for {'/'.join(names)}" for lr, names in by_lr.items())


def add_training_options(p, lr_default_text=lr_text(TRAINING_DEFAULTS["lr"]), include_val=True, defaults=None):
    """Options shared by pretrain, finetune and experiment; defaults from choices (TRAINING_DEFAULTS or `defaults`)."""
    d = dict(defaults or TRAINING_DEFAULTS)
    p.add_argument("--epochs", type=int, default=d["epochs"], help=f"epochs (default {d['epochs']})")
    p.add_argument("--steps-per-epoch", type=int, default=d["steps_per_epoch"],
                   help=f"training steps per epoch (default {d['steps_per_epoch']})")
    p.add_argument("--lr", type=float, default=None, help=f"initial learning rate (default {lr_default_text})")
    p.add_argument("--lr-schedule", default=d["lr_schedule"], choices=LR_SCHEDULES,
                   help=f"decay per step (default {d['lr_schedule']})")
    p.add_argument("--patch-size", type=int, nargs="+", default=list(d["patch_size"]),
                   help=f"patch side(s) in voxels, z y x or one for a cube (default {' '.join(map(str, d['patch_size']))}); "
                   "must divide by 16")
    p.add_argument("--batch-size", type=int, default=d["batch_size"],
                   help=f"patches per step and process (default {d['batch_size']})")
    if include_val:
        patience = d.get("patience")
        p.add_argument("--patience", type=int, metavar="EPOCHS", default=patience,
                       help="stop when validation Dice has not improved for so many epochs; 0: train every epoch "
                       f"(default {patience or 0})")
        p.add_argument("--val-cases", type=int, default=d["val_cases"],
                       help=f"cases held out of the first dataset for validation Dice each epoch (default {d['val_cases']}; 0: none)")
    p.add_argument("--seed", type=int, default=d["seed"], help=f"random seed (default {d['seed']})")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--precision", default=d["precision"], choices=PRECISIONS,
                   help="auto: bf16 autocast where this machine computes it faster (timed once), else fp32")
    label2_default = d["label2"] or "as the source model: class for a 3-class model, else background"
    p.add_argument("--label2", default=d["label2"], choices=LABEL2_MODES,
                   help="label 2 (other pathology) as lesion, as background, left out of the loss, or its own class "
                   f"(class: a 3-class model that also outputs other pathology; default {label2_default})")
    p.add_argument("--dropout", type=float, default=None, help="dropout in the deep stages (default: the network's)")
    p.add_argument("--no-augment", action="store_true", help="train on plain patches (no augmentation)")
    p.add_argument("--num-workers", type=int, default=None, help="data-loading processes (default 0 on CPU, 4 on CUDA)")
    p.add_argument("--cache-dir", help="folder of preprocessed arrays (default DATASET/preprocessed)")
    p.add_argument("--grid", default=d["grid"], choices=GRIDS,
                   help=f"crop: resample MNI-space images onto the network's crop box; as_is: keep their grid (default {d['grid']})")
    p.add_argument("--stop-after-epochs", type=int, help="end this session after so many epochs (continue with --resume)")
    p.add_argument("--time-limit-min", type=float, help="end after the epoch that passes this many minutes; the model is saved")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-channels-last", action="store_true",
                   help="plain memory layout (channels_last_3d is faster for the full-size net, slower for tiny ones)")


def patch_size_of(values):
    if len(values) not in (1, 3):
        from ..errors import InputError

        raise InputError("--patch-size takes one side (a cube) or three (z y x)")
    return tuple(values) * 3 if len(values) == 1 else tuple(values)


def training_options(args) -> dict:
    """TrainConfig fields from the shared options (lr only when given)."""
    options = {
        "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "lr_schedule": args.lr_schedule,
        "patch_size": patch_size_of(args.patch_size), "batch_size": args.batch_size, "seed": args.seed,
        "device": args.device, "precision": args.precision, "label2": args.label2, "dropout": args.dropout,
        "augment": not args.no_augment, "num_workers": args.num_workers, "cache_root": args.cache_dir,
        "grid": args.grid, "stop_after_epochs": args.stop_after_epochs,
        "time_limit_s": None if args.time_limit_min is None else args.time_limit_min * 60.0,
        "resume": args.resume, "show_progress": not args.no_progress, "channels_last": not args.no_channels_last,
    }
    if getattr(args, "val_cases", None) is not None:
        options["val_cases"] = args.val_cases
    if hasattr(args, "patience"):
        options["patience"] = args.patience or None  # 0: no early end
    if args.lr is not None:
        options["lr"] = args.lr
    return options


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name,
        help="pre-train the network from random weights on datasets (e.g. synthetic cohorts)",
        description="Train the 3D attention V-Net from random weights on one or more datasets (folders with "
        "dataset.json). Cases are preprocessed once into DATASET/preprocessed; checkpoints, a CSV log and a PNG "
        "of the curves go to RUN_DIR; the best model is saved as a new model folder (never replacing one). "
        "Under torchrun each process trains on its own patches (DDP).",
    )
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset folder(s); validation cases come from the first")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="run folder (checkpoints, logs, model)")
    p.add_argument("--models-dir", help="where the trained model folder is written (default: RUN_DIR)")
    p.add_argument("--name", default="radiowmhseg-pretrained", help="model name (default radiowmhseg-pretrained)")
    p.add_argument("--channels", type=int, nargs="+", help="feature widths per level (default 8 16 32 64 128)")
    p.add_argument("--convs", type=int, nargs="+", help="convolutions per level (default 1 2 2 2 2)")
    add_training_options(p)
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..training.trainer import pretrain

    result = pretrain(args.datasets, args.output, models_dir=args.models_dir, model_name=args.name,
                      channels=args.channels, convs=args.convs, **training_options(args))
    if result.rank != 0:
        return 0  # under torchrun, rank 0 reports
    if result.model_dir is None:
        print(f"stopped after epoch {result.epochs_done} of the run; continue with: --resume -o {result.run_dir}")
    else:
        print(f"model: {result.model_dir} (best validation Dice {result.best_val_dice:.4f})")
    return 0
