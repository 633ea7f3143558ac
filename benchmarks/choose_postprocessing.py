"""Threshold, smallest lesion and flip TTA chosen on validation cases, then checked on the held-out case.

    python benchmarks/choose_postprocessing.py EXPERIMENT DATASET -o OUT.json [--n-train 2] [--strategy all]

EXPERIMENT is the output folder of `benchmarks/real_case_transfer.py ... --patience 1` over DATASET. In
fold k the model fine-tuned on N of the fold's training cases was validated on the fold's other training
cases; here it segments the RAW scans of those validation cases (the whole pipeline, preprocessing done
once per case) with and without flip TTA, and the threshold and smallest-lesion size with the best mean
of Dice and lesion F1 over them are chosen. Then the fold's test case, never looked at before, is scored
with the defaults (0.5, 3 mm3, no TTA) and with the choice, by that model and by the fold's N=4 model of
the same strategy (which had no case left to validate on). The shipped defaults of `choices.py`
('shipped', and 'shipped_no_tta' to see what the flips add) are scored on the test cases too. Writes OUT.json (with every setting's validation score) and
prints a table: does a choice made on validation cases beat the defaults on the test cases?
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
MIN_LESION_MM3 = (0.0, 3.0, 10.0, 30.0, 100.0)
DEFAULT = {"tta": False, "threshold": 0.5, "min_lesion_mm3": 3.0}  # the defaults before this benchmark


def probabilities(model_dir, prepared, tta):
    """P(WMH) on the raw scan's grid (inside the brain), from a preprocessed case."""
    import torch

    from RadioWMHSegLib.model_io import load_model
    from RadioWMHSegLib.segment import segment_preprocessed

    device = torch.device("cpu")
    return segment_preprocessed(prepared[0], load_model(model_dir, device), device, tta=tta).probability


def mask_of(probability, threshold, min_lesion_mm3):
    import SimpleITK as sitk

    from RadioWMHSegLib.lesion_stats import remove_small_lesions

    return remove_small_lesions(sitk.Cast(probability >= threshold, sitk.sitkUInt8), min_lesion_mm3)


def quick_score(mask, reference) -> float:
    """(Dice + lesion F1) / 2: overlap and freedom from false specks, at the cost of a few arrays."""
    import SimpleITK as sitk

    from RadioWMHSegLib.metrics import dice, lesion_f1

    pred, ref = sitk.GetArrayViewFromImage(mask), sitk.GetArrayViewFromImage(reference)
    return (dice(pred, ref) + lesion_f1(pred, ref)) / 2.0


def full_score(mask, reference) -> dict:
    from RadioWMHSegLib.metrics import compute_metrics

    metrics = compute_metrics(mask, reference)
    return {k: round(float(metrics[k]), 4) for k in ("dsc", "hd95", "lesion_f1", "sensitivity", "precision")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("dataset")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--n-train", type=int, default=2)
    parser.add_argument("--strategy", default="all")
    args = parser.parse_args()

    import numpy as np

    from real_case_transfer import preprocess_raw
    from RadioWMHSegLib.choices import DEFAULT_MIN_LESION_MM3, DEFAULT_THRESHOLD, DEFAULT_TTA
    from RadioWMHSegLib.dataset_split import fold_case_names, read_splits
    from RadioWMHSegLib.datasets import load_dataset

    dataset = load_dataset(args.dataset)
    by_name = {c.name: c for c in dataset.cases}
    experiment = Path(args.experiment)
    prepared = {}

    def case_data(name):
        if name not in prepared:
            prepared[name] = preprocess_raw(by_name[name], "cpu")
        return prepared[name]

    folds = []
    for fold in range(len(read_splits(dataset.path)["folds"])):
        run = experiment / f"fold_{fold}" / "runs" / f"N{args.n_train}_{args.strategy}" / "evaluation.json"
        large = experiment / f"fold_{fold}" / "runs" / f"N4_{args.strategy}" / "evaluation.json"
        if not (run.exists() and large.exists()):
            print(f"fold {fold}: runs not finished, skipped", flush=True)
            continue
        train_names, test_names = fold_case_names(dataset, fold)
        validation_names = train_names[args.n_train:]
        model_dir = json.loads(run.read_text(encoding="utf-8"))["model_dir"]
        large_dir = json.loads(large.read_text(encoding="utf-8"))["model_dir"]
        sweep = {}
        for tta in (False, True):
            maps = [(probabilities(model_dir, case_data(n), tta), case_data(n)[2]) for n in validation_names]
            for threshold, min_size in itertools.product(THRESHOLDS, MIN_LESION_MM3):
                sweep[(tta, threshold, min_size)] = float(np.mean([quick_score(mask_of(p, threshold, min_size), ref)
                                                                   for p, ref in maps]))
        tta, threshold, min_size = max(sweep, key=sweep.get)
        chosen = {"tta": tta, "threshold": threshold, "min_lesion_mm3": min_size}
        record = {"fold": fold, "validation_cases": validation_names, "chosen": chosen,
                  "validation_score_chosen": round(sweep[(tta, threshold, min_size)], 4),
                  "validation_score_default": round(sweep[(False, 0.5, 3.0)], 4),
                  "validation_scores": [{"tta": k[0], "threshold": k[1], "min_lesion_mm3": k[2], "score": round(v, 4)}
                                        for k, v in sweep.items()], "test": {}}
        shipped = {"tta": DEFAULT_TTA, "threshold": DEFAULT_THRESHOLD, "min_lesion_mm3": DEFAULT_MIN_LESION_MM3}
        for label, directory in ((f"N{args.n_train}", model_dir), ("N4", large_dir)):
            for name in test_names:
                reference = case_data(name)[2]
                maps = {}
                settings = (("default", DEFAULT), ("chosen", chosen), ("shipped", shipped),
                            ("shipped_no_tta", {**shipped, "tta": False}))
                for setting_name, setting in settings:
                    if setting["tta"] not in maps:
                        maps[setting["tta"]] = probabilities(directory, case_data(name), setting["tta"])
                    probability = maps[setting["tta"]]
                    record["test"][f"{label}|{setting_name}|{name}"] = full_score(
                        mask_of(probability, setting["threshold"], setting["min_lesion_mm3"]), reference)
        print(json.dumps(record), flush=True)
        folds.append(record)
    atomic_write_text(args.output, json.dumps(folds, indent=1), overwrite=True)
    lines = ["| model | setting | test cases | DSC | HD95 (mm) | lesion F1 |", "|---|---|---|---|---|---|"]
    for label in (f"N{args.n_train}", "N4"):
        for setting_name in ("default", "chosen", "shipped", "shipped_no_tta"):
            rows = [v for r in folds for k, v in r["test"].items() if k.startswith(f"{label}|{setting_name}|")]
            if rows:
                mean = {m: np.mean([r[m] for r in rows]) for m in ("dsc", "hd95", "lesion_f1")}
                lines.append(f"| {label} {args.strategy} | {setting_name} | {len(rows)} | {mean['dsc']:.3f} | "
                             f"{mean['hd95']:.1f} | {mean['lesion_f1']:.3f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
