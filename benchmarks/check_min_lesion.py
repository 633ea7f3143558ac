"""Does the shipped smallest-lesion size still suit a model? Swept on validation cases only.

    python benchmarks/check_min_lesion.py bundled -o docs/min_lesion_v7_validation.json \
        --real runs/sim_vent_ds:case_105911 --synthetic runs/rad_severe_val runs/glioma_val runs/glioma_severe_val

`choices.DEFAULT_MIN_LESION_MM3` was chosen with version 2's recipe on the real-case folds
(docs/experiment.md). Each case here is segmented once as `segment_image` does (flips, precision auto,
the shipped threshold and tumour-rim rule) but with no size filter, then lesions under each size are
dropped and the mask scored against the WMH truth (label 1) on the case's own grid, by
choose_postprocessing's score: (Dice + lesion F1) / 2. --real: a raw scan (skull on) of a dataset, given
as DATASET:CASE; --synthetic: skull-stripped synthetic datasets, every case. Prints the table, writes OUT.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

SIZES_MM3 = (0.0, 3.0, 10.0, 20.0, 30.0, 50.0, 100.0)


def unfiltered_masks(loaded, cases):
    """[(case label, WMH mask without the size filter, truth)] for [(label, case, skull_stripped)]."""
    import SimpleITK as sitk
    import torch

    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.precision import resolve_precision
    from RadioWMHSegLib.preprocessing.pipeline import preprocess
    from RadioWMHSegLib.segment import segment_preprocessed

    device = torch.device("cpu")
    masks = []
    for label, case, skull_stripped in cases:
        truth = sitk.Cast(read_label(case.label_path) == 1, sitk.sitkUInt8)  # label 2 is not WMH
        prepared = preprocess(read_flair(case.image_path), skull_stripped=skull_stripped, device=device)
        result = segment_preprocessed(prepared, loaded, device, precision=resolve_precision("auto", device),
                                      min_lesion_mm3=0.0)
        masks.append((label, result.mask, truth))
        print(label, "segmented", flush=True)
    return masks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder, or 'bundled'")
    parser.add_argument("-o", "--output", required=True, help="JSON record (a new file)")
    parser.add_argument("--real", nargs="*", default=[], help="DATASET:CASE raw scans with WMH truth")
    parser.add_argument("--synthetic", nargs="*", default=[], help="skull-stripped synthetic datasets")
    args = parser.parse_args()
    if Path(args.output).exists():
        sys.exit(f"{args.output} exists: give a new file name")
    if not (args.real or args.synthetic):
        sys.exit("give validation cases: --real DATASET:CASE and/or --synthetic DATASET")

    from choose_postprocessing import full_score
    from RadioWMHSegLib.choices import DEFAULT_MIN_LESION_MM3
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.errors import RadioWMHSegError
    from RadioWMHSegLib.lesion_stats import remove_small_lesions
    from RadioWMHSegLib.model_io import load_model
    from RadioWMHSegLib.safe_write import atomic_write_json

    try:
        loaded = load_model(None if args.model == "bundled" else args.model, "cpu")
        cases = []
        for item in args.real:
            dataset_path, _, name = item.partition(":")
            found = [c for c in load_dataset(dataset_path).cases if c.name == name]
            if not found:
                sys.exit(f"--real {item}: {dataset_path} has no case '{name}'")
            cases.append((f"{Path(dataset_path).name}/{name}", found[0], False))
        for dataset_path in args.synthetic:
            cases += [(f"{Path(dataset_path).name}/{c.name}", c, True) for c in load_dataset(dataset_path).cases]
        masks = unfiltered_masks(loaded, cases)
    except RadioWMHSegError as error:  # a bad model folder or dataset: one line, not a traceback
        sys.exit(str(error))

    rows = []
    for size in SIZES_MM3:
        per_case = {label: full_score(remove_small_lesions(mask, size), truth) for label, mask, truth in masks}
        rows.append({"min_lesion_mm3": size,
                     "score": round(statistics.mean((m["dsc"] + m["lesion_f1"]) / 2 for m in per_case.values()), 4),
                     "dsc": round(statistics.mean(m["dsc"] for m in per_case.values()), 4),
                     "lesion_f1": round(statistics.mean(m["lesion_f1"] for m in per_case.values()), 4),
                     "cases": per_case})
    best = max(rows, key=lambda r: r["score"])
    record = {"command": "python benchmarks/check_min_lesion.py " + " ".join(sys.argv[1:]),
              "model": loaded.card.get("name"), "weights_sha256": loaded.card.get("weights_sha256"),
              "shipped_min_lesion_mm3": DEFAULT_MIN_LESION_MM3, "best_on_validation": best["min_lesion_mm3"],
              "rows": rows}
    atomic_write_json(args.output, record)
    print("| smallest lesion (mm3) | score | Dice | lesion F1 |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['min_lesion_mm3']:g} | {row['score']:.4f} | {row['dsc']:.4f} | {row['lesion_f1']:.4f} |")
    print(f"best on validation: {best['min_lesion_mm3']:g} mm3 (shipped {DEFAULT_MIN_LESION_MM3:g})")


if __name__ == "__main__":
    main()
