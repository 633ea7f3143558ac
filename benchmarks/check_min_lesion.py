"""Do the shipped smallest-lesion size and threshold still suit a model? Swept on validation cases only.

    python benchmarks/check_min_lesion.py bundled -o docs/min_lesion_v7_validation.json \
        --real runs/sim_vent_ds:case_105911 --synthetic runs/rad_severe_val runs/glioma_val runs/glioma_severe_val \
        [--thresholds 0.4 0.5 0.6 0.7]

`choices.DEFAULT_MIN_LESION_MM3` and `DEFAULT_THRESHOLD` were chosen with version 2's recipe on the real-case
folds (docs/experiment.md). Each case here runs the network once as `segment_image` does (flips, precision
auto) and its probabilities are mapped back to the case's own grid; then for each threshold (default: the
shipped one alone) and size the mask is made as segment_image makes it (the tumour-rim rule, lesions under
the size dropped) and scored against the WMH truth (label 1) by choose_postprocessing's score:
(Dice + lesion F1) / 2. --real: a raw scan (skull on) of a dataset, given as DATASET:CASE; --synthetic:
skull-stripped synthetic datasets, every case. Prints the table, writes OUT.

--peaks P ...: also sweep a lesion-peak filter (not shipped; docs/model.md, version 8): a lesion is kept only if
its highest P(WMH) reaches P, on the hypothesis that false specks are less sure than true lesions of their size.
With --real cases each row also gets score_real_half: the real cases' mean score and the synthetic cases' mean
score weighed equally, as the version-8 model rule weighs them.
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


def probabilities(loaded, cases):
    """[(case label, P(WMH), P(other pathology) or None, truth)] on each case's own grid, as segment_preprocessed
    computes them, for [(label, case, skull_stripped)]."""
    import SimpleITK as sitk
    import torch

    from RadioWMHSegLib.choices import DEFAULT_TTA
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.inference import predict
    from RadioWMHSegLib.precision import resolve_precision
    from RadioWMHSegLib.preprocessing.pipeline import preprocess
    from RadioWMHSegLib.segment import on_input_grid

    device = torch.device("cpu")
    maps = []
    for label, case, skull_stripped in cases:
        truth = sitk.Cast(read_label(case.label_path) == 1, sitk.sitkUInt8)  # label 2 is not WMH
        prepared = preprocess(read_flair(case.image_path), skull_stripped=skull_stripped, device=device)
        prediction = predict(loaded.net, prepared.network_input, device, tta=DEFAULT_TTA,
                             precision=resolve_precision("auto", device))
        pathology = None if prediction.pathology is None else on_input_grid(prepared, prediction.pathology)
        maps.append((label, on_input_grid(prepared, prediction.wmh), pathology, truth))
        print(label, "segmented", flush=True)
    return maps


def drop_unsure_lesions(mask, probability, peak):
    """The mask without the connected lesions whose highest probability is under peak."""
    import numpy as np
    import SimpleITK as sitk

    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(mask, True))
    peaks = np.zeros(labels.max() + 1)
    np.maximum.at(peaks, labels.ravel(), sitk.GetArrayFromImage(probability).ravel())
    keep = peaks >= peak
    keep[0] = False  # background
    kept = sitk.GetImageFromArray(keep[labels].astype(np.uint8))
    kept.CopyInformation(mask)
    return kept


def summarise(per_case, real_labels) -> dict:
    """Mean score, Dice and lesion F1 over the cases, and the real-half score where real cases were given."""
    score = {label: (m["dsc"] + m["lesion_f1"]) / 2 for label, m in per_case.items()}
    row = {"score": round(statistics.mean(score.values()), 4),
           "dsc": round(statistics.mean(m["dsc"] for m in per_case.values()), 4),
           "lesion_f1": round(statistics.mean(m["lesion_f1"] for m in per_case.values()), 4)}
    real = [v for k, v in score.items() if k in real_labels]
    synthetic = [v for k, v in score.items() if k not in real_labels]
    if real and synthetic:
        row["score_real_half"] = round(0.5 * statistics.mean(real) + 0.5 * statistics.mean(synthetic), 4)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder, or 'bundled'")
    parser.add_argument("-o", "--output", required=True, help="JSON record (a new file)")
    parser.add_argument("--real", nargs="*", default=[], help="DATASET:CASE raw scans with WMH truth")
    parser.add_argument("--synthetic", nargs="*", default=[], help="skull-stripped synthetic datasets")
    parser.add_argument("--thresholds", type=float, nargs="+", default=None,
                        help="P(WMH) thresholds to sweep (default: the shipped one)")
    parser.add_argument("--peaks", type=float, nargs="+", default=None,
                        help="lesion peaks to sweep: lesions whose highest P(WMH) is under one are dropped "
                        "(default: none dropped)")
    args = parser.parse_args()
    if Path(args.output).exists():
        sys.exit(f"{args.output} exists: give a new file name")
    if not (args.real or args.synthetic):
        sys.exit("give validation cases: --real DATASET:CASE and/or --synthetic DATASET")

    from choose_postprocessing import full_score
    from RadioWMHSegLib.choices import DEFAULT_MIN_LESION_MM3, DEFAULT_THRESHOLD
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.errors import RadioWMHSegError
    from RadioWMHSegLib.model_io import load_model
    from RadioWMHSegLib.safe_write import atomic_write_json
    from RadioWMHSegLib.segment import masks_from_probabilities

    thresholds = args.thresholds or [DEFAULT_THRESHOLD]
    if not all(0.0 < t < 1.0 for t in thresholds):
        sys.exit(f"--thresholds {thresholds}: give probabilities strictly between 0 and 1")
    peaks = [None] + (args.peaks or [])  # None: no lesion dropped for its peak, as shipped
    if args.peaks and not all(0.0 < p <= 1.0 for p in args.peaks):
        sys.exit(f"--peaks {args.peaks}: give probabilities above 0 and at most 1")

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
        maps = probabilities(loaded, cases)
    except RadioWMHSegError as error:  # a bad model folder or dataset: one line, not a traceback
        sys.exit(str(error))

    real_labels = {label for label, _, skull_stripped in cases if not skull_stripped}
    rows = []
    for threshold, size, peak in ((t, size, p) for t in thresholds for size in SIZES_MM3 for p in peaks):
        if peak is not None and peak < threshold:
            continue  # every lesion already reaches the threshold
        per_case = {}
        for label, wmh, pathology, truth in maps:
            mask = masks_from_probabilities(wmh, pathology, threshold, size)[0]
            per_case[label] = full_score(mask if peak is None else drop_unsure_lesions(mask, wmh, peak), truth)
        rows.append({"threshold": threshold, "min_lesion_mm3": size, "peak": peak,
                     **summarise(per_case, real_labels), "cases": per_case})
    best = max(rows, key=lambda r: r["score"])
    record = {"command": "python benchmarks/check_min_lesion.py " + " ".join(sys.argv[1:]),
              "model": loaded.card.get("name"), "weights_sha256": loaded.card.get("weights_sha256"),
              "shipped_min_lesion_mm3": DEFAULT_MIN_LESION_MM3, "shipped_threshold": DEFAULT_THRESHOLD,
              "best_on_validation": {"threshold": best["threshold"], "min_lesion_mm3": best["min_lesion_mm3"],
                                     "peak": best["peak"]},
              "rows": rows}
    if "score_real_half" in rows[0]:  # real and synthetic cases both given
        best_real_half = max(rows, key=lambda r: r["score_real_half"])
        record["best_on_validation_real_half"] = {k: best_real_half[k] for k in ("threshold", "min_lesion_mm3", "peak")}
    atomic_write_json(args.output, record)
    print("| threshold | smallest lesion (mm3) | lesion peak | score | real-half score | Dice | lesion F1 |\n"
          "|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['threshold']:g} | {row['min_lesion_mm3']:g} | {row['peak'] or '-'} | {row['score']:.4f} | "
              f"{row.get('score_real_half', '-')} | {row['dsc']:.4f} | {row['lesion_f1']:.4f} |")
    print(f"best on validation: threshold {best['threshold']:g}, {best['min_lesion_mm3']:g} mm3, lesion peak "
          f"{best['peak'] or 'none'} (shipped {DEFAULT_THRESHOLD:g}, {DEFAULT_MIN_LESION_MM3:g} mm3, none)")


if __name__ == "__main__":
    main()
