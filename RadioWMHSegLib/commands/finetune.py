"""`radiowmhseg finetune`: adapt a trained model to a target dataset with one transfer strategy."""

import math

from ..choices import DEFAULT_STRATEGY, FINETUNE_DEFAULTS, PATHOLOGY_REPLAY, STRATEGIES
from .pretrain import add_training_options, lr_default_text, training_options


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name,
        help="fine-tune a model on your own labelled cases (transfer learning)",
        description="Fine-tune a model on a target dataset. Strategies: all (whole network from the source "
        "model), decoder (encoder frozen), last (last three layers re-initialised and trained alone), scratch "
        "(random weights, target only), mixed (random weights, source + target together). The result is a new "
        "model folder (default in the user's model folder) whose card names the source model as parent; the "
        "source model is never changed.",
    )
    p.add_argument("dataset", metavar="DATASET", help="target dataset folder (dataset.json, imagesTr/, labelsTr/)")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="run folder (checkpoints, logs)")
    p.add_argument("--from", dest="source_model", metavar="MODEL_DIR", help="source model folder (default: the bundled model)")
    p.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=STRATEGIES,
                   help=f"transfer strategy (default {DEFAULT_STRATEGY})")
    p.add_argument("--source", dest="source_datasets", nargs="+", default=[], metavar="DATASET",
                   help="source dataset(s) trained on together with the target, each dataset drawn equally often: "
                        "required by 'mixed'; with 'all', 'decoder' or 'last' they keep the source data in the "
                        "fine-tuning (e.g. synthetic gliomas, so a 3-class model keeps learning label 2)")
    p.add_argument("--target-share", type=float, metavar="SHARE",
                   help="share of the patches drawn from DATASET, the rest from the source datasets (and the "
                        "pathology replay), e.g. 0.5 (default: every dataset drawn equally often)")
    p.add_argument("--pathology-replay", type=int, default=None, metavar="N",
                   help="synthetic treated gliomas (tumour, oedema, cavity as label 2) made into "
                        "RUN_DIR/pathology_replay and trained on beside the target, so that a 3-class model does not "
                        "forget tumour/oedema when your cases show none (default: "
                        f"{PATHOLOGY_REPLAY['cases']} for a 3-class model when no --source is given, else 0; "
                        "0 leaves it out)")
    p.add_argument("--models-dir", help="where the fine-tuned model folder is written (default: the user's model folder)")
    p.add_argument("--name", help="model name (default: <source name>-<strategy>)")
    p.add_argument("--fold", type=int, metavar="N",
                   help="train on fold N's train cases of DATASET/splits.json ('radiowmhseg dataset split') and "
                        "validate on all its val cases (--val-cases 0: no validation)")
    add_training_options(p, lr_default_text=lr_default_text(STRATEGIES), defaults=FINETUNE_DEFAULTS)
    p.set_defaults(val_cases=None)  # finetune() holds one out, or none when the dataset has a single case
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..training.finetune import finetune

    options = training_options(args)
    if args.fold is not None:
        options["fold"] = args.fold
    if args.target_share is not None:
        options["target_share"] = args.target_share
    result = finetune(args.dataset, args.output, source_model=args.source_model, strategy=args.strategy,
                      source_datasets=args.source_datasets, models_dir=args.models_dir, model_name=args.name,
                      pathology_replay=args.pathology_replay, **options)
    if result.rank != 0:
        return 0  # under torchrun, rank 0 reports
    if result.model_dir is None:
        print(f"stopped after epoch {result.epochs_done}; continue with: --resume -o {result.run_dir}")
    elif math.isnan(result.best_val_dice):
        print(f"fine-tuned model: {result.model_dir} (no validation cases: the last weights were kept)")
    else:
        on = "" if args.fold is None else f" on fold {args.fold}'s val cases"
        print(f"fine-tuned model: {result.model_dir} (best validation Dice{on} {result.best_val_dice:.4f})")
    return 0
