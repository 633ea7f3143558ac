"""The published transfer-learning experiment: strategies x training-set sizes on a target cohort.

Pre-train once on the source data (or take a given model), then for every training size N and
strategy fine-tune on the first N target cases and score the model on the held-out last n_test
target cases (whole-crop prediction, threshold 0.5, WMH-challenge metrics at 1 mm). Each run has
its own folder and record, so an interrupted experiment picks up where it stopped:

    OUT/experiment.json              settings (a rerun must use the same)
    OUT/pretrain/                    the source model's run (unless --pretrained)
    OUT/runs/N5_all/                 one fine-tuning run: checkpoints, log, model, evaluation.json
    OUT/results.csv                  one row per run and test case
    OUT/table.csv, OUT/table.md      mean ± sd of DSC, sensitivity, precision, HD95, lesion F1
    OUT/dsc_boxplot.png              DSC per strategy and N

With a fold of the target's splits.json the fold's val cases are the test cases, and
run_cross_validation runs every fold (OUT/fold_<k>/, pooled tables in OUT). With patience, each run
validates on the training cases its N leaves unused and ends at its plateau; a run with no case left
trains as long as the same strategy's validated run did (so run lengths are never chosen on test cases).
"""

import json
import math
from pathlib import Path

import numpy as np

from .. import safe_write
from ..choices import DEFAULT_THRESHOLD, EXPERIMENT_DEFAULTS, FINETUNE_DEFAULTS, STRATEGIES
from ..errors import DatasetError, InputError
from . import transfer

SETTINGS_FILE = "experiment.json"
EVALUATION_FILE = "evaluation.json"
RESULT_COLUMNS = ("fold", "n_train", "strategy", "steps", "case", "dsc", "sensitivity", "precision", "hd", "hd95", "avd",
                  "lesion_recall", "lesion_precision", "lesion_f1")
TABLE_METRICS = ("dsc", "sensitivity", "precision", "hd95", "lesion_f1")


def _check_settings(out_dir: Path, settings: dict):
    path = out_dir / SETTINGS_FILE
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored != json.loads(json.dumps(settings, default=str)):
            differing = sorted(k for k in set(stored) | set(settings)
                               if json.dumps(stored.get(k), default=str) != json.dumps(settings.get(k), default=str))
            raise InputError(f"{out_dir} holds an experiment with other settings ({', '.join(differing)}): "
                             "rerun with the same options to resume it, or choose another output folder")
    else:
        safe_write.atomic_write_json(path, settings)


def _evaluate_run(model_dir, test_cases, device, precision) -> list:
    """Metrics of one model on the cached test cases: [{case, dsc, ...}]."""
    from .. import model_io
    from ..inference import predict_probability
    from ..metrics import compute_metrics

    loaded = model_io.load_model(model_dir, device=device)
    rows = []
    for cached in test_cases:
        image, label, _ = cached.load()
        probability = predict_probability(loaded.net, image.astype(np.float32), device=device, precision=precision)
        prediction = (probability >= DEFAULT_THRESHOLD).astype(np.uint8)
        metrics = compute_metrics(prediction, label, spacing=(1.0, 1.0, 1.0))
        rows.append({"case": cached.name, **{k: metrics[k] for k in RESULT_COLUMNS[5:]}})
    return rows


def _mean_sd(values):
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return float("nan"), float("nan"), 0
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0, len(finite)


def _steps_text(group) -> str:
    """Training steps of the kept weights: one number, or the range over a group's runs."""
    steps = sorted({r.get("steps") for r in group if r.get("steps")})
    return "" if not steps else str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"


def write_results(out_dir, rows, n_train, strategies):
    """results.csv, table.csv, table.md and the box plot from all per-case rows."""
    out_dir = Path(out_dir)
    safe_write.atomic_write_csv(out_dir / "results.csv", rows, RESULT_COLUMNS, overwrite=True)

    table_columns = ["n_train", "strategy", "n_cases"] + [f"{m}_{s}" for m in TABLE_METRICS for s in ("mean", "sd")]
    table = []
    markdown = ["| N | strategy | cases | steps | " + " | ".join(TABLE_METRICS) + " |",
                "|---|---|---|---|" + "---|" * len(TABLE_METRICS)]
    for n in n_train:
        for strategy in strategies:
            group = [r for r in rows if r["n_train"] == n and r["strategy"] == strategy]
            if not group:
                continue
            stats = [_mean_sd([r[m] for r in group]) for m in TABLE_METRICS]
            table.append(dict(zip(table_columns, [n, strategy, len(group)]
                                  + [f"{v:.4f}" for mean, sd, _ in stats for v in (mean, sd)])))
            cells = [f"{mean:.3f} ± {sd:.3f}" + ("" if k == len(group) else f" ({k} cases)")
                     for mean, sd, k in stats]
            markdown.append(f"| {n} | {strategy} | {len(group)} | {_steps_text(group)} | " + " | ".join(cells) + " |")
    safe_write.atomic_write_csv(out_dir / "table.csv", table, table_columns, overwrite=True)
    note = ("\nMean ± sd over the held-out test cases; steps: training steps of the kept weights; HD95 in mm; a metric undefined for some cases "
            "(e.g. HD95 with an empty prediction) is averaged over the cases where it is defined.\n")
    safe_write.atomic_write_text(out_dir / "table.md", "\n".join(markdown) + "\n" + note, overwrite=True)
    write_boxplot(out_dir / "dsc_boxplot.png", rows, n_train, strategies)


def write_boxplot(path, rows, n_train, strategies):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(1.2 + 0.9 * len(strategies) * len(n_train), 4))
    data, labels, positions = [], [], []
    for i, n in enumerate(n_train):
        for j, strategy in enumerate(strategies):
            values = [r["dsc"] for r in rows if r["n_train"] == n and r["strategy"] == strategy]
            if values:
                data.append(values)
                labels.append(f"{strategy}\nN={n}")
                positions.append(i * (len(strategies) + 1) + j)
    if data:
        axis.boxplot(data, positions=positions)
        axis.set_xticks(positions)
        axis.set_xticklabels(labels, fontsize=8)
    axis.set_ylabel("DSC (test cases)")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    try:
        safe_write.atomic_write_bytes_with(path, lambda tmp: figure.savefig(tmp, format="png", dpi=90),
                                           overwrite=True, suffix=".png")
    finally:
        plt.close(figure)


def run_experiment(source_datasets, target_dataset, out_dir, n_train=EXPERIMENT_DEFAULTS["n_train"],
                   n_test=EXPERIMENT_DEFAULTS["n_test"], strategies=STRATEGIES, pretrained=None, pretrain_options=None, finetune_options=None,
                   device="auto", lr=None, progress=None) -> Path:
    """Run (or resume) the experiment; returns the path of table.md.

    pretrain_options / finetune_options: TrainConfig fields for the source training and for every
    fine-tuning run (epochs, steps_per_epoch, patch_size, batch_size, seed, precision, ...).
    lr: one learning rate for every strategy (default: choices.STRATEGY_LR per strategy).
    """
    from .. import model_io
    from ..dataset_split import latest_versions
    from ..datasets import load_dataset
    from ..device import resolve_device
    from ..precision import resolve_precision
    from .finetune import finetune
    from .preprocess_dataset import preprocess_dataset
    from .trainer import pretrain

    out_dir = Path(out_dir)
    n_train = [int(n) for n in n_train]
    strategies = list(strategies)
    for strategy in strategies:
        transfer.check_strategy(strategy)
    torch_device = resolve_device(device)  # once: every run of the experiment trains and scores there
    source_datasets = [str(p) for p in (source_datasets or [])]
    if pretrained is None and not source_datasets:
        raise InputError("the experiment needs source data to pre-train on (--source) or a pre-trained model (--pretrained)")
    if "mixed" in strategies and not source_datasets:
        raise InputError("strategy 'mixed' trains on source and target together: give the source dataset(s) (--source)")
    # Resume, device and model placement are the experiment's own business.
    owned = ("resume", "device", "models_dir", "model_name", "first_cases", "source_model", "strategy")
    pretrain_options = {k: v for k, v in (pretrain_options or {}).items() if k not in owned}
    finetune_options = {k: v for k, v in (finetune_options or {}).items() if k not in owned + ("lr",)}
    # Without patience the experiment trains for a fixed number of epochs and keeps the last model (as Kaur et
    # al.). With it, a run validates on the training cases its N leaves unused and stops at the plateau.
    patience = finetune_options.get("patience")
    finetune_options["val_on_unused"] = patience is not None
    finetune_options.setdefault("val_cases", 0)
    target = load_dataset(target_dataset)
    # Training reads only the latest correction of each case (dataset_split.latest_versions): count, train and
    # test on those, so a run's spare cases are what it really validates on and no older copy is tested.
    latest = [c.name for c in latest_versions(target.cases)[0]]
    test_names = None
    if finetune_options.get("fold") is not None:  # a fold of the target's splits.json: its val cases are the test
        from ..dataset_split import fold_case_names

        train_names, test_names = fold_case_names(target, finetune_options["fold"])
        train_names = [n for n in train_names if n in latest]
        test_names = [n for n in test_names if n in latest]
        n_test = len(test_names)
        if max(n_train) > len(train_names):
            raise DatasetError(f"fold {finetune_options['fold']} of {target.name} has {len(train_names)} training "
                               f"cases, fewer than the {max(n_train)} asked for: lower --n-train")
    elif max(n_train) + n_test > len(latest):
        raise DatasetError(f"target dataset {target.name} has {len(latest)} cases (versions of a case count once): "
                           f"training on up to {max(n_train)} and testing on {n_test} others needs "
                           f"{max(n_train) + n_test}")
    else:
        test_names = latest[len(latest) - n_test:]
        train_names = latest[:len(latest) - n_test]
    from .config import SESSION_FIELDS

    settings = {"source_datasets": [str(Path(p).resolve()) for p in source_datasets],
                "target_dataset": str(Path(target_dataset).resolve()), "n_train": n_train, "n_test": n_test,
                "strategies": strategies, "pretrained": str(Path(pretrained).resolve()) if pretrained else None,
                "lr": lr,
                # Settings of how runs execute (progress bar, layout, cache place) may change on resume.
                "pretrain_options": {k: v for k, v in pretrain_options.items() if k not in SESSION_FIELDS},
                "finetune_options": {k: v for k, v in finetune_options.items() if k not in SESSION_FIELDS}}
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, settings)

    cache_root = finetune_options.get("cache_root")
    target_cached = preprocess_dataset(target, None if cache_root is None else Path(cache_root) / safe_write.safe_name(target.name),
                                       grid=finetune_options.get("grid", "crop"))
    test_cases = [c for c in target_cached if c.name in set(test_names)]

    if pretrained is None:
        result = pretrain(source_datasets, out_dir / "pretrain", model_name="pretrained", resume=True,
                          device=torch_device, **pretrain_options)
        pretrained = result.model_dir
    model_io.read_card(pretrained)

    precision = resolve_precision(finetune_options.get("precision", "auto"), torch_device)
    n_available = len(train_names)
    rows = []
    validated_epochs = {}  # strategy -> best epoch of its largest run so far that had cases to validate on
    n_train = sorted(n_train)  # the validated runs come first: see validated_epochs
    total = len(n_train) * len(strategies)
    for index, (n, strategy) in enumerate((n, s) for n in n_train for s in strategies):
        run_dir = out_dir / "runs" / f"N{n}_{strategy}"
        evaluation_path = run_dir / EVALUATION_FILE
        if progress is not None:
            progress(index / total, f"run N={n} {strategy}")
        options = dict(finetune_options)
        if patience is not None:
            options["val_cases"] = n_available - n
            if options["val_cases"] == 0 and strategy in validated_epochs:
                # No case left to validate on: train as long as the same strategy's validated run did, a
                # length chosen on validation cases, never on the test cases.
                options["epochs"] = validated_epochs[strategy]
        if not evaluation_path.exists():
            result = finetune(target_dataset, run_dir, source_model=pretrained, strategy=strategy,
                              # The strategies compared are the papers': only 'mixed' sees the source cases.
                              source_datasets=source_datasets if strategy == "mixed" else (), pathology_replay=0,
                              models_dir=run_dir, lr=lr,
                              model_name=f"N{n}_{strategy}", first_cases=n, resume=True, device=torch_device,
                              **options)
            record = json.loads((Path(run_dir) / "record.json").read_text(encoding="utf-8"))
            evaluation = {"n_train": n, "strategy": strategy, "model_dir": str(result.model_dir),
                          "validation_cases": options["val_cases"] if patience is not None else 0,
                          "epochs_done": record["epochs_done"], "best_epoch": record["best_epoch"],
                          "steps_per_epoch": options.get("steps_per_epoch", FINETUNE_DEFAULTS["steps_per_epoch"]),
                          "test_cases": _evaluate_run(result.model_dir, test_cases, torch_device, precision)}
            safe_write.atomic_write_json(evaluation_path, evaluation, overwrite=True)
        evaluation = json.loads(evaluation_path.read_text(encoding="utf-8"))
        if evaluation.get("validation_cases"):
            validated_epochs[strategy] = evaluation["best_epoch"]
        rows += _evaluation_rows(evaluation, finetune_options.get("fold"))
        write_results(out_dir, rows, n_train, strategies)  # partial tables while the experiment runs
    return out_dir / "table.md"


def _evaluation_rows(evaluation, fold=None) -> list:
    """results.csv rows of one run's evaluation.json: one per test case."""
    steps = evaluation.get("best_epoch", 0) * evaluation.get("steps_per_epoch", 0) or None
    return [{"fold": fold, "n_train": evaluation["n_train"], "strategy": evaluation["strategy"], "steps": steps, **row}
            for row in evaluation["test_cases"]]


def run_cross_validation(source_datasets, target_dataset, out_dir, n_train=EXPERIMENT_DEFAULTS["n_train"],
                         strategies=STRATEGIES, pretrained=None, pretrain_options=None, finetune_options=None,
                         device="auto", lr=None, only_folds=None, progress=None) -> Path:
    """The experiment on every fold of the target's splits.json, each fold's val cases its test cases, so that
    every case is tested once; returns the path of the pooled table.md.

    OUT/fold_<k>/ is run_experiment's folder for fold k; OUT/results.csv, table.md, table.csv and
    dsc_boxplot.png pool the test cases of every finished fold. A source model, when none is given, is
    pre-trained once (OUT/pretrain) and shared by the folds. only_folds: run just these (the tables still pool
    every fold finished so far). Resumable as run_experiment is.
    """
    from ..dataset_split import read_splits
    from ..datasets import load_dataset

    out_dir = Path(out_dir)
    target = load_dataset(target_dataset)
    splits = read_splits(target.path)
    if splits is None:
        raise DatasetError(f"{target.path} has no splits.json: make folds first with "
                           f"'radiowmhseg dataset split {target.path} --folds 5' (or --folds {len(target.cases)}: "
                           "leave-one-out)")
    n_train = sorted(int(n) for n in n_train)
    if pretrained is None:
        from ..device import resolve_device
        from .trainer import pretrain

        owned = ("resume", "device", "models_dir", "model_name", "first_cases", "source_model", "strategy")
        options = {k: v for k, v in (pretrain_options or {}).items() if k not in owned}
        pretrained = pretrain(source_datasets, out_dir / "pretrain", model_name="pretrained", resume=True,
                              device=resolve_device(device), **options).model_dir
    folds = range(len(splits["folds"]))
    for fold in folds:
        if only_folds is None or fold in only_folds:
            run_experiment(source_datasets, target_dataset, out_dir / f"fold_{fold}", n_train=n_train,
                           strategies=strategies, pretrained=pretrained,
                           finetune_options=dict(finetune_options or {}, fold=fold), device=device, lr=lr,
                           progress=progress)
    rows = []
    for fold in folds:
        for n in n_train:
            for strategy in strategies:
                path = out_dir / f"fold_{fold}" / "runs" / f"N{n}_{strategy}" / EVALUATION_FILE
                if path.exists():
                    rows += _evaluation_rows(json.loads(path.read_text(encoding="utf-8")), fold)
    write_results(out_dir, rows, n_train, strategies)
    return out_dir / "table.md"
