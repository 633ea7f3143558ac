"""Fine-tuning: a model adapted to a target dataset with one transfer strategy (transfer.py), as a new model folder.

The entry point of `radiowmhseg finetune`, the Slicer panel's fine-tuning and the experiment. It sits
above the trainer and the strategies: it checks what it can before any preprocessing, then builds the
run's TrainConfig (fine-tuning defaults from choices.FINETUNE_DEFAULTS) and trains.
"""

from pathlib import Path

from .. import model_io
from ..choices import DEFAULT_STRATEGY, FINETUNE_DEFAULTS, PATHOLOGY_REPLAY, STRATEGY_LR, TRAINING_DEFAULTS
from ..errors import InputError
from .config import TrainConfig, check_target_share
from .trainer import train
from .transfer import check_strategy

# What fine-tuning changes of the pre-training recipe when the caller does not say.
_FINETUNE_OWN = ("epochs", "steps_per_epoch", "val_cases", "patience")


def finetune(target_dataset, run_dir, source_model=None, strategy=DEFAULT_STRATEGY, source_datasets=(), models_dir=None,
             model_name=None, lr=None, progress=None, cancel=None, pathology_replay=None, **options):
    """Fine-tune a model on a target dataset with one strategy; returns the trainer's TrainResult.

    source_model None means the bundled model. The result is a NEW model folder under models_dir
    (default: the user's model folder, model_io.user_models_dir()) whose card names the source as
    its parent; the source folder is only read. 'mixed' needs source_datasets; 'scratch' ignores
    the source weights but keeps its architecture and trains on the target alone. With 'all', 'decoder'
    or 'last', source_datasets are trained on beside the target (each dataset drawn equally often), so
    the model keeps what they teach, e.g. a class the target cases never show. lr None: the strategy's
    (choices.STRATEGY_LR). pathology_replay: how many synthetic gliomas a 3-class model also trains on
    (None: choices.PATHOLOGY_REPLAY when no source datasets are given, else none; 0: none).
    """
    check_strategy(strategy)
    source = Path(source_model) if source_model is not None else model_io.bundled_model_dir()
    source_card = model_io.read_card(source)  # a clear error now rather than after preprocessing
    if options.get("fold") is not None:
        from ..dataset_split import fold_case_names
        from ..datasets import load_dataset

        fold_case_names(load_dataset(target_dataset, check_geometry=False), options["fold"])  # likewise
    if strategy == "mixed" and not source_datasets:
        raise InputError("strategy 'mixed' trains on source and target cases together: give the source dataset(s)")
    if strategy == "scratch" and source_datasets:
        raise InputError("strategy 'scratch' trains on the target cases alone: leave out the source dataset(s), or "
                         "choose 'mixed' to train random weights on source and target together")
    if options.get("val_cases") is None:  # not given: the default, or none when there is a single case
        options.pop("val_cases", None)
        if options.get("fold") is None:
            options["val_cases"] = _default_val_cases(target_dataset)
    for key in _FINETUNE_OWN:
        options.setdefault(key, FINETUNE_DEFAULTS[key])
    if options.get("label2") is None:
        options["label2"] = source_label2(source_card)
    replay = replay_cases(pathology_replay, options["label2"], strategy, source_datasets)
    check_target_share(options.get("target_share"), bool(source_datasets) or bool(replay))  # before making the replay
    if replay:
        source_datasets = [*source_datasets, pathology_replay_dataset(run_dir, replay)]
    config = TrainConfig(
        datasets=[str(target_dataset)], run_dir=str(run_dir),
        source_datasets=[str(p) for p in source_datasets],
        stage="finetune", strategy=strategy, source_model=str(source),
        lr=STRATEGY_LR[strategy] if lr is None else float(lr),
        models_dir=str(models_dir) if models_dir is not None else str(model_io.user_models_dir()),
        model_name=model_name or f"{source_card.get('name', 'model')}-{strategy}",
        **options,
    )
    return train(config, progress=progress, cancel=cancel)


def source_label2(source_card) -> str:
    """The label-2 mode a fine-tuning takes when none is given: 'class' when the source model outputs other
    pathology (a 3-class model stays one, and label 2 of the user's corrections trains it), else the default."""
    if "other_pathology" in model_io.class_names(source_card):
        return "class"
    return TRAINING_DEFAULTS["label2"]


def replay_cases(pathology_replay, label2, strategy, source_datasets) -> int:
    """How many synthetic gliomas a fine-tuning also trains on, so that a 3-class model keeps label 2."""
    if pathology_replay is None:  # the default: only where nothing else shows the network a tumour
        keeps_weights = strategy not in ("scratch", "mixed")
        return PATHOLOGY_REPLAY["cases"] if label2 == "class" and keeps_weights and not source_datasets else 0
    n_cases = int(pathology_replay)
    if n_cases < 0:
        raise InputError(f"pathology replay {n_cases} must be 0 (none) or a number of synthetic glioma cases")
    if n_cases and label2 != "class":
        raise InputError("the pathology replay keeps a 3-class model's tumour/oedema output: it needs label 2 as a "
                         "class (--label2 class, or a 3-class source model); give 0 to leave it out")
    if n_cases and strategy == "scratch":
        raise InputError("strategy 'scratch' trains on the target cases alone: leave out the pathology replay (0)")
    return n_cases


def pathology_replay_dataset(run_dir, n_cases) -> Path:
    """RUN_DIR/pathology_replay: n_cases synthetic treated gliomas (tumour, oedema, cavity as label 2), made
    once from a fixed seed; a resumed or repeated run reuses what is there."""
    from ..synth import generate_cohort

    folder = Path(run_dir) / "pathology_replay"
    print(f"synthetic gliomas for the pathology replay ({n_cases} cases, about 3 s each): {folder}", flush=True)
    return generate_cohort(folder, n_cases, "glioma", PATHOLOGY_REPLAY["seed"], progress=False,
                           resume=folder.exists(), name="pathology_replay")


def _default_val_cases(target_dataset) -> int:
    """One validation case, or none when the dataset holds a single case (versions count once): an annotator
    who has corrected one case can fine-tune on it, for the fixed number of epochs, keeping the last weights."""
    from ..dataset_split import latest_versions
    from ..datasets import load_dataset

    kept, _ = latest_versions(load_dataset(target_dataset, check_geometry=False).cases)
    if len(kept) > FINETUNE_DEFAULTS["val_cases"]:
        return FINETUNE_DEFAULTS["val_cases"]
    print(f"{len(kept)} case(s) in {target_dataset}: none held out for validation; every epoch is trained "
          "and the last weights kept", flush=True)
    return 0
