"""`radiowmhseg experiment`: the published comparison of transfer strategies and training-set sizes."""

from ..choices import (DEVICE_CHOICES, EXPERIMENT_DEFAULTS, FINETUNE_DEFAULTS, GRIDS, LABEL2_MODES, PRECISIONS,
                       STRATEGIES, TRAINING_DEFAULTS)
from .pretrain import lr_default_text, lr_text, patch_size_of

_F, _P, _E = FINETUNE_DEFAULTS, TRAINING_DEFAULTS, EXPERIMENT_DEFAULTS


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name,
        help=f"compare transfer strategies ({', '.join(STRATEGIES)}) for several training sizes",
        description="Pre-train once on the source data (or use --pretrained), then for each training size N and "
        "strategy fine-tune on the first N target cases and score on the last --n-test target cases. Writes "
        "results.csv (one row per run and test case), table.md / table.csv (mean ± sd of DSC, sensitivity, "
        "precision, HD95, lesion F1) and dsc_boxplot.png. Rerunning the same command resumes: finished runs "
        "are skipped.",
    )
    p.add_argument("--source", dest="source_datasets", nargs="+", default=[], metavar="DATASET",
                   help="source dataset(s): pre-training and the 'mixed' strategy")
    p.add_argument("--target", required=True, metavar="DATASET", help="target dataset (training cases first, test cases last)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="experiment folder")
    p.add_argument("--n-train", type=int, nargs="+", default=list(_E["n_train"]),
                   help=f"training-set sizes (default {' '.join(map(str, _E['n_train']))})")
    p.add_argument("--n-test", type=int, default=_E["n_test"],
                   help=f"held-out test cases, the last of the target (default {_E['n_test']})")
    p.add_argument("--fold", type=int, metavar="N", help="use fold N of the target's splits.json ('radiowmhseg dataset "
                   "split'): training cases from its train list, its val cases as the test cases (--n-test ignored)")
    p.add_argument("--all-folds", action="store_true",
                   help="run every fold of the target's splits.json, each fold's val cases as its test cases, so that "
                   "every case is tested once; OUT/fold_<k> per fold, the tables pool all folds")
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--pretrained", metavar="MODEL_DIR", help="use this source model instead of pre-training")
    p.add_argument("--epochs", type=int, default=_F["epochs"], help=f"epochs of each fine-tuning run (default {_F['epochs']})")
    p.add_argument("--steps-per-epoch", type=int, default=_F["steps_per_epoch"],
                   help=f"steps per fine-tuning epoch (default {_F['steps_per_epoch']})")
    p.add_argument("--patience", type=int, metavar="EPOCHS",
                   help="validate each run on the training cases its N leaves unused and stop when Dice has not "
                   "improved for so many epochs; a run with none unused trains as long as the same strategy's "
                   "largest validated run (default: every run trains --epochs and keeps its last weights)")
    p.add_argument("--lr", type=float,
                   help=f"one learning rate for all strategies (default: {lr_default_text(STRATEGIES)})")
    p.add_argument("--pretrain-epochs", type=int, default=_P["epochs"],
                   help=f"epochs of the source pre-training (default {_P['epochs']})")
    p.add_argument("--pretrain-steps-per-epoch", type=int, default=_P["steps_per_epoch"],
                   help=f"steps per pre-training epoch (default {_P['steps_per_epoch']})")
    p.add_argument("--pretrain-lr", type=float, default=_P["lr"], help=f"pre-training learning rate (default {lr_text(_P['lr'])})")
    p.add_argument("--channels", type=int, nargs="+", help="network widths per level for pre-training (default 8 16 32 64 128)")
    p.add_argument("--convs", type=int, nargs="+", help="convolutions per level for pre-training (default 1 2 2 2 2)")
    p.add_argument("--patch-size", type=int, nargs="+", default=list(_F["patch_size"]),
                   help=f"patch side(s) (default {' '.join(map(str, _F['patch_size']))})")
    p.add_argument("--batch-size", type=int, default=_F["batch_size"])
    p.add_argument("--seed", type=int, default=_F["seed"])
    p.add_argument("--label2", default=_P["label2"], choices=LABEL2_MODES)
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--precision", default=_F["precision"], choices=PRECISIONS)
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--grid", default=_F["grid"], choices=GRIDS)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..errors import InputError
    from ..training.experiment import run_cross_validation, run_experiment

    common = {"patch_size": patch_size_of(args.patch_size), "batch_size": args.batch_size, "seed": args.seed,
              "label2": args.label2, "dropout": args.dropout, "precision": args.precision, "grid": args.grid,
              "show_progress": not args.no_progress}
    pretrain_options = dict(common, epochs=args.pretrain_epochs, steps_per_epoch=args.pretrain_steps_per_epoch,
                            lr=args.pretrain_lr, channels=args.channels, convs=args.convs)
    finetune_options = dict(common, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
    if args.fold is not None:
        finetune_options["fold"] = args.fold
    if args.patience is not None:
        finetune_options["patience"] = args.patience
    if args.all_folds:
        if args.fold is not None:
            raise InputError("--fold and --all-folds exclude each other: give one")
        table = run_cross_validation(args.source_datasets, args.target, args.output, n_train=args.n_train,
                                     strategies=args.strategies, pretrained=args.pretrained,
                                     pretrain_options=pretrain_options, finetune_options=finetune_options,
                                     device=args.device, lr=args.lr)
    else:
        table = run_experiment(args.source_datasets, args.target, args.output, n_train=args.n_train,
                               n_test=args.n_test, strategies=args.strategies, pretrained=args.pretrained,
                               pretrain_options=pretrain_options, finetune_options=finetune_options,
                               device=args.device, lr=args.lr)
    print(table.read_text(encoding="utf-8"))
    print(f"results in {table.parent}")
    return 0
