"""The transfer experiment on real target cases, fold by fold, scored on the raw scans.

    python benchmarks/real_case_transfer.py DATASET -o OUT [--folds 5] [--n-train 4] [--strategies all ...]
        [--epochs 4 --steps-per-epoch 50] [--from MODEL]

DATASET is a labelled dataset of raw scans (e.g. the five sim_vent_wmh cases, built with
`radiowmhseg dataset add --from-folders`). Its splits.json is made with one case per fold when
absent (leave-one-out). Fold by fold, the library's cross-validation (`radiowmhseg experiment
--all-folds`) fine-tunes the source model on N of the fold's training cases with each strategy (with
--patience: validated on the fold's training cases that N leaves unused, ended at the plateau; N with
none left trains as long as the same strategy's validated run), and each model, plus the source model
without fine-tuning ('none'), then segments the held-out case's RAW FLAIR through the whole pipeline
(brain extraction, registration, network, back to the scan's grid; the preprocessing done once per
case), scored against its hand-drawn mask on that grid. Writes OUT/raw_results.csv (one row per fold,
N, strategy), OUT/raw_table.md and OUT/raw_dsc_boxplot.png, beside the library's crop-grid tables.
Rerunning resumes: finished runs and scored cases are kept.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
from RadioWMHSegLib.safe_write import atomic_write_csv, atomic_write_text  # noqa: E402  (after the path)

# The post-processing every model is scored with: fixed, so the table compares the strategies alone (and
# stays comparable with runs scored before the shipped defaults became 10 mm3 and flip TTA).
SCORING = {"threshold": 0.5, "min_lesion_mm3": 3.0, "tta": False}
COLUMNS = ("fold", "n_train", "strategy", "steps", "train_s", "case", "dsc", "hd95", "lesion_f1", "sensitivity", "precision",
           "wmh_ml", "true_ml")


def preprocess_raw(case, device="cpu"):
    """(preprocessed case, image, reference WMH mask) of a dataset case's raw image, done once per case."""
    import SimpleITK as sitk

    from RadioWMHSegLib.device import resolve_device
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.preprocessing.pipeline import preprocess

    image = read_flair(case.image_path)
    reference = sitk.Cast(read_label(case.label_path) == 1, sitk.sitkUInt8)  # label 2 is not WMH
    return preprocess(image, device=resolve_device(device)), image, reference


def score_raw(model_dir, case, prepared, device="cpu") -> dict:
    """Segment a dataset case's raw image with a model (prepared = preprocess_raw(case)) and score it on the
    image's own grid: the same result as segment_image on the raw file, without repeating the preprocessing."""
    import numpy as np
    import SimpleITK as sitk

    from RadioWMHSegLib.device import resolve_device
    from RadioWMHSegLib.metrics import compute_metrics
    from RadioWMHSegLib.model_io import load_model
    from RadioWMHSegLib.segment import segment_preprocessed

    preprocessed, image, reference = prepared
    torch_device = resolve_device(device)
    result = segment_preprocessed(preprocessed, load_model(model_dir, torch_device), torch_device, **SCORING)
    metrics = compute_metrics(result.mask, reference)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    return {"case": case.name, **{k: round(float(metrics[k]), 4) for k in ("dsc", "hd95", "lesion_f1", "sensitivity",
                                                                            "precision")},
            "wmh_ml": round(result.stats.total_volume_ml, 2),
            "true_ml": round(float(sitk.GetArrayViewFromImage(reference).sum()) * voxel_ml, 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--folds", type=int, default=None, help="folds to make when the dataset has no splits.json "
                        "(default: one case per fold)")
    parser.add_argument("--only-folds", type=int, nargs="*", help="run only these folds")
    parser.add_argument("--n-train", type=int, nargs="+", default=[4])
    parser.add_argument("--strategies", nargs="+", default=["all"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--patience", type=int, default=None, help="stop each run at its validation plateau "
                        "(radiowmhseg experiment --patience): validated on the fold's training cases N leaves unused")
    parser.add_argument("--source", nargs="*", default=[], help="source dataset(s) for the 'mixed' strategy")
    parser.add_argument("--from", dest="source_model", default=None, help="source model (default: bundled)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.dataset_split import fold_case_names, make_splits, read_splits
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.training.experiment import run_cross_validation, write_boxplot

    dataset = load_dataset(args.dataset)
    if read_splits(dataset.path) is None:
        make_splits(dataset.path, folds=args.folds or len(dataset.cases), seed=0)
    n_folds = len(read_splits(dataset.path)["folds"])
    source = args.source_model or str(model_io.bundled_model_dir())
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    scores_path = out / "raw_scores.json"
    scores = json.loads(scores_path.read_text(encoding="utf-8")) if scores_path.exists() else {}
    by_name = {c.name: c for c in dataset.cases}
    for fold in range(n_folds):
        if args.only_folds and fold not in args.only_folds:
            continue
        _, test_names = fold_case_names(dataset, fold)
        fold_dir = out / f"fold_{fold}"
        options = {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "show_progress": False}
        if args.patience is not None:
            options["patience"] = args.patience
        # The library's cross-validation (radiowmhseg experiment --all-folds), one fold at a time so that each
        # fold's models are scored on its raw scan as soon as they exist; it also pools the crop-grid scores.
        run_cross_validation(args.source, dataset.path, out, n_train=args.n_train, strategies=args.strategies,
                             pretrained=source, device=args.device, lr=args.lr, finetune_options=options,
                             only_folds=[fold])
        runs = [("0", "none", source)] + [(str(n), s, str(fold_dir / "runs" / f"N{n}_{s}" / f"N{n}_{s}"))
                                          for n in args.n_train for s in args.strategies]
        prepared = {}
        for n, strategy, model_dir in runs:
            steps = 0
            if strategy != "none":
                evaluation = json.loads((fold_dir / "runs" / f"N{n}_{strategy}" / "evaluation.json").read_text(encoding="utf-8"))
                model_dir = evaluation["model_dir"]
                steps = evaluation.get("best_epoch", 0) * evaluation.get("steps_per_epoch", 0)
            for name in test_names:
                key = f"{fold}|{n}|{strategy}|{name}"
                if key in scores:
                    continue
                if name not in prepared:
                    prepared[name] = preprocess_raw(by_name[name], args.device)
                scores[key] = {"fold": fold, "n_train": int(n), "strategy": strategy, "steps": steps,
                               **score_raw(model_dir, by_name[name], prepared[name], args.device)}
                print(json.dumps(scores[key]), flush=True)
                atomic_write_text(scores_path, json.dumps(scores, indent=1), overwrite=True)
    rows = sorted(scores.values(), key=lambda r: (r["n_train"], r["strategy"], r["fold"]))
    for row in rows:  # training time of the run: its epochs, validation included (training_log.csv)
        log = out / f"fold_{row['fold']}" / "runs" / f"N{row['n_train']}_{row['strategy']}" / "training_log.csv"
        row["train_s"] = round(sum(float(r["seconds"]) for r in csv.DictReader(log.open())), 1) if log.exists() else 0.0
    atomic_write_csv(out / "raw_results.csv", rows, COLUMNS, overwrite=True)
    import numpy as np

    lines = ["| N | strategy | test cases | steps | training min (median) | DSC | HD95 (mm) | lesion F1 | WMH mL (true mL) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key in sorted({(r["n_train"], r["strategy"]) for r in rows}):
        group = [r for r in rows if (r["n_train"], r["strategy"]) == key]
        cell = lambda m: f"{np.mean([r[m] for r in group]):.3f} ± {np.std([r[m] for r in group], ddof=1) if len(group) > 1 else 0:.3f}"
        volumes = ", ".join(f"{r['wmh_ml']:.1f} ({r['true_ml']:.1f})" for r in group)
        steps = sorted(r.get("steps", 0) for r in group)
        steps = f"{steps[0]}" if steps[0] == steps[-1] else f"{steps[0]}-{steps[-1]} (median {int(np.median(steps))})"
        minutes = f"{np.median([r['train_s'] for r in group]) / 60:.1f}"
        lines.append(f"| {key[0]} | {key[1]} | {len(group)} | {steps} | {minutes} | {cell('dsc')} | {cell('hd95')} | {cell('lesion_f1')} | {volumes} |")
    atomic_write_text(out / "raw_table.md", "\n".join(lines) + "\n", overwrite=True)
    write_boxplot(out / "raw_dsc_boxplot.png", rows, sorted({r["n_train"] for r in rows}),
                  ["none"] + [s for s in args.strategies if s != "none"])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
