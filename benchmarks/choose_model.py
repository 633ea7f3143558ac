"""Which weights ship: candidate models scored on validation cases only, by a rule fixed before the run (--rule).

    python benchmarks/choose_model.py bundled RUN/models/A RUN/models/B -o docs/model_vN_validation.json \
        --real runs/sim_vent_ds:case_105911 --glioma runs/glioma_val runs/glioma_severe_val \
        --severe runs/rad_severe_val --glioma-extreme runs/glioma_extreme_val

The score is the mean of nine numbers, each in [0, 1], higher better:
  1-2. the real validation case's Dice over the network crop (its cached preprocessed image, P(WMH) >= 0.5,
       fp32, no flips: what the trainer validates on), counted twice because it is the only real case;
  3-6. for each --glioma set: the WMH Dice outside the tumour/oedema/cavity, and 1 - the share of that
       region called WMH (`glioma_specificity.score_case`; whole pipeline from the file with the default
       settings: flips on, precision auto, recorded);
  7-8. on --severe (tumour-free, severe WMH): the mean WMH Dice, and 1 - the share of the WMH called
       other pathology;
  9.   on --glioma-extreme: the WMH Dice outside the glioma (WMH of 150 mL and more beside it).
Written down before the version-6 run (docs/model_v6_validation.json) and kept, so that versions are chosen
alike. A candidate ships only if it beats the bundled model's score and the bundled-model tests pass with it.

Real-scan guard (added 2026-11-27, after the faint-WMH candidate: it won the score by 0.019, yet found 1.3-4.2
times version 7's WMH on the real scans without truth, marking normal white matter; docs/model.md): with
--unlabelled-scans, each model segments those raw scans (whole pipeline, default settings) and a candidate
that finds more than GUARD_RATIO times the bundled model's WMH volume, and GUARD_MIN_ML more, on any of
them is refused, whatever its score. No truth is used: the scans only say how much a model calls WMH where
the nine validation numbers cannot see it.

Rule "real-half" (--rule real-half, written 2026-11-27 before the v13 run; docs/model.md): real scans weigh as much
as synthetic ones. score = 0.5 R + 0.5 S, where S is the mean of numbers 3-9 above and R the mean of three on the
real validation case: its crop Dice (number 1), and its Dice and lesion F1 from its RAW scan (--real-raw: the
whole pipeline with the default settings, as the leave-one-out scores). A candidate is also refused when more
than TUMOUR_CALLED_WMH_MAX of the tumour/oedema/cavity of any --glioma set is called WMH (the issue's target).

Rule "real-half-label2" (written 2026-11-27 before the v14 run): as real-half, but S also holds, for each --glioma
set and --glioma-extreme, the mean Dice of the predicted tumour/oedema/cavity against the true region (the second
segment an expert sees; version 8 marked less of it than version 7, and no earlier rule scored it).

Unscored region (from v15, runs/v15/RULE.md and docs/model.md): sim_vent_wmh's WMH is the union of focal lesions
and periventricular bands that its authors call normal and the open MS masks leave out. With --real DATASET:CASE of a
dataset whose label 3 marks the bands and --real-unscored WMH_periventricular.nii.gz, the real numbers leave them
out for every model alike, so that neither convention is scored.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))


GUARD_RATIO = 1.5
GUARD_MIN_ML = 2.0
TUMOUR_CALLED_WMH_MAX = 0.05


def real_case_crop_dice(loaded, dataset_case: str) -> float:
    """Crop Dice of P(WMH) >= 0.5 on a cached preprocessed case, as the trainer's validation computes it."""
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.training.preprocess_dataset import default_cache_dir, preprocess_dataset
    from RadioWMHSegLib.training.validation import validation_dice

    dataset_path, case_name = dataset_case.split(":", 1)
    dataset = load_dataset(dataset_path)
    cached = {c.name: c for c in preprocess_dataset(dataset, default_cache_dir(dataset))}
    if case_name not in cached:
        sys.exit(f"{dataset_path} has no case {case_name}: give DATASET:CASE")
    image, label, _ = cached[case_name].load()
    return validation_dice(loaded.net, [(image, label)], "cpu", "fp32", "class")


def scored_cases(loaded, dataset_path) -> list:
    """glioma_specificity's scores of every case of a synthetic dataset, whole pipeline with flips."""
    from glioma_specificity import score_dataset

    return score_dataset(loaded, dataset_path, tta=True)


def unlabelled_volumes(loaded, scans) -> dict:
    """WMH mL a model finds on each raw scan, from the file as a user would (default settings)."""
    from RadioWMHSegLib.image_io import read_flair
    from RadioWMHSegLib.segment import segment_image

    volumes = {}
    for scan in scans:
        result = segment_image(read_flair(scan), model=loaded, device="cpu")
        volumes[scan] = round(result.stats.total_volume_ml, 2)
        print(Path(scan).name, volumes[scan], "mL", flush=True)
    return volumes


def real_raw_scores(loaded, case_dir, unscored_file=None) -> dict:
    """Dice and lesion F1 of the WMH found on a raw labelled scan (FLAIR.nii.gz, WMH.nii.gz), default settings;
    with unscored_file (a mask in case_dir), its voxels taken out of truth and prediction alike."""
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.segment import segment_image

    result = segment_image(read_flair(Path(case_dir) / "FLAIR.nii.gz"), model=loaded, device="cpu")
    truth = read_label(Path(case_dir) / "WMH.nii.gz")
    unscored = read_label(Path(case_dir) / unscored_file) if unscored_file else None
    return scores_outside(result.mask, truth, unscored)


def scores_outside(mask, truth, unscored=None) -> dict:
    """real_raw_dice and real_raw_lesion_f1 of mask against truth == 1, both cut to the voxels outside unscored
    (a region whose labelling convention differs, e.g. sim_vent's periventricular bands; runs/v15/RULE.md)."""
    import SimpleITK as sitk

    from RadioWMHSegLib.metrics import compute_metrics

    reference = sitk.Cast(truth == 1, sitk.sitkUInt8)
    if unscored is not None:  # label 3 (unscored): compute_metrics leaves it out of both masks
        reference = sitk.Mask(reference, sitk.Cast(unscored == 0, sitk.sitkUInt8), outsideValue=3)
    metrics = compute_metrics(sitk.Cast(mask > 0, sitk.sitkUInt8), reference)
    return {"real_raw_dice": round(float(metrics["dsc"]), 4),
            "real_raw_lesion_f1": round(float(metrics["lesion_f1"]), 4)}


def rule_score(scores, rule) -> float:
    """The model's score under a rule: "v6" (the nine numbers, the real crop Dice twice), "real-half" or
    "real-half-label2" (real-half with the tumour/oedema region's Dice among the synthetic numbers)."""
    crop = scores["real_case_crop_dice (counted twice)"]
    synthetic = [v for k, v in scores.items()
                 if not k.startswith("real_") and (rule == "real-half-label2" or not k.startswith("label2_"))]
    if rule == "v6":
        return round(statistics.mean(synthetic + [crop, crop]), 4)
    real = [crop, scores["real_raw_dice"], scores["real_raw_lesion_f1"]]
    return round(0.5 * statistics.mean(real) + 0.5 * statistics.mean(synthetic), 4)


def tumour_guard_failures(scores) -> list:
    """The glioma sets on which more than TUMOUR_CALLED_WMH_MAX of the tumour/oedema/cavity is called WMH."""
    suffix = "_1_minus_pathology_called_wmh"
    # rounded as the scores are, so that exactly 5 % (1 - 0.95 in floats: 0.0500000001) passes
    return [k[:-len(suffix)] for k, v in scores.items()
            if k.endswith(suffix) and round(1 - v, 4) > TUMOUR_CALLED_WMH_MAX]


def choose(results, scan_refusals, tumour_refusals, record_only) -> str:
    """The highest-scoring model that no guard refused and that may ship (not scored for the record only)."""
    allowed = [m for m in results
               if not scan_refusals.get(m) and not tumour_refusals.get(m) and m not in record_only]
    return max(allowed, key=lambda m: results[m]["mean"], default=None)  # None: every candidate refused


def guard_failures(volumes, baseline) -> list:
    """The scans on which a model finds more than GUARD_RATIO x and GUARD_MIN_ML mL over the baseline's WMH."""
    return [scan for scan, ml in volumes.items()
            if ml > GUARD_RATIO * baseline[scan] and ml - baseline[scan] > GUARD_MIN_ML]


def mean_of(rows, key) -> float:
    return round(statistics.mean(r[key] for r in rows if r[key] is not None), 4)


def score_model(model, args) -> dict:
    from RadioWMHSegLib import model_io

    loaded = model_io.load_model(None if model == "bundled" else model, "cpu")
    scores, cases = {}, {}
    scores["real_case_crop_dice (counted twice)"] = round(real_case_crop_dice(loaded, args.real), 4)
    for dataset in args.glioma:
        name = Path(dataset).name
        cases[name] = rows = scored_cases(loaded, dataset)
        scores[f"{name}_wmh_dice_outside"] = mean_of(rows, "wmh_dice_outside")
        scores[f"{name}_1_minus_pathology_called_wmh"] = round(1 - mean_of(rows, "pathology_called_wmh"), 4)
        scores[f"label2_{name}_pathology_region_dice"] = mean_of(rows, "pathology_mask_dice")
    name = Path(args.severe).name
    cases[name] = rows = scored_cases(loaded, args.severe)
    scores[f"{name}_wmh_dice"] = mean_of(rows, "wmh_dice_outside")  # no pathology there: outside = everywhere
    scores[f"{name}_1_minus_wmh_called_pathology"] = round(1 - mean_of(rows, "wmh_called_pathology"), 4)
    name = Path(args.glioma_extreme).name
    cases[name] = rows = scored_cases(loaded, args.glioma_extreme)
    scores[f"{name}_wmh_dice_outside"] = mean_of(rows, "wmh_dice_outside")
    scores[f"label2_{name}_pathology_region_dice"] = mean_of(rows, "pathology_mask_dice")
    if args.real_raw:
        scores.update(real_raw_scores(loaded, args.real_raw, args.real_unscored))
    return {"model": loaded.card.get("name"), "weights_sha256": loaded.card.get("weights_sha256"),
            "scores": scores, "rule": args.rule, "mean": rule_score(scores, args.rule), "cases": cases,
            "unlabelled_wmh_ml": unlabelled_volumes(loaded, args.unlabelled_scans)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model folders; 'bundled' for the shipped model (the baseline)")
    parser.add_argument("-o", "--output", required=True, help="JSON record (a new file)")
    parser.add_argument("--real", required=True, help="DATASET:CASE, the real validation case")
    parser.add_argument("--glioma", nargs="+", required=True, help="synthetic glioma validation sets")
    parser.add_argument("--severe", required=True, help="a tumour-free severe-WMH validation set")
    parser.add_argument("--glioma-extreme", required=True, help="gliomas beside the most severe WMH")
    parser.add_argument("--rule", choices=("v6", "real-half", "real-half-label2"), default="v6",
                        help="v6: the nine numbers (versions 6 and 7); real-half: real scans weigh half (version 8); "
                        "real-half-label2: and the tumour/oedema region scored (from v14)")
    parser.add_argument("--real-raw", help="folder of the real validation case's raw FLAIR.nii.gz and WMH.nii.gz "
                        "(e.g. ../shared/data/sim_vent_wmh/case_105911); needed by the real-half rules")
    parser.add_argument("--real-unscored", metavar="FILE",
                        help="a mask in the --real-raw folder whose voxels the raw scores leave out, in truth and "
                        "prediction alike (e.g. WMH_periventricular.nii.gz; from v15)")
    parser.add_argument("--record-only", nargs="*", default=[],
                        help="models (among MODELS) scored for the record that the rule does not let ship")
    parser.add_argument("--unlabelled-scans", nargs="*", default=[],
                        help="raw real FLAIRs without truth for the real-scan guard "
                        "(e.g. ../shared/data/open_ms/raw_flair/*)")
    args = parser.parse_args()
    if Path(args.output).exists():
        sys.exit(f"{args.output} exists: give a new file name")
    if ":" not in args.real:
        sys.exit(f"--real {args.real}: give DATASET:CASE, e.g. runs/sim_vent_ds:case_105911")
    missing = [scan for scan in args.unlabelled_scans if not Path(scan).is_file()]
    if missing:
        sys.exit(f"--unlabelled-scans: no such file {missing[0]}")
    if args.rule.startswith("real-half") and not args.real_raw:
        sys.exit(f"--rule {args.rule} scores the raw real scan too: give --real-raw CASE_DIR")
    if args.real_raw and not all((Path(args.real_raw) / f).is_file() for f in ("FLAIR.nii.gz", "WMH.nii.gz")):
        sys.exit(f"--real-raw {args.real_raw}: give a folder holding FLAIR.nii.gz and WMH.nii.gz")
    if args.real_unscored and not (args.real_raw and (Path(args.real_raw) / args.real_unscored).is_file()):
        sys.exit(f"--real-unscored {args.real_unscored}: give the name of a mask file in the --real-raw folder")
    if set(args.record_only) - set(args.models) or "bundled" in args.record_only:
        sys.exit("--record-only: name candidates that are also among the models (not 'bundled')")
    if args.unlabelled_scans and "bundled" not in args.models:
        sys.exit("--unlabelled-scans compares each candidate with the bundled model: add 'bundled' to the models")

    from RadioWMHSegLib.errors import RadioWMHSegError

    results = {}
    for model in args.models:
        try:
            results[model] = score_model(model, args)
        except RadioWMHSegError as error:  # a bad model folder or dataset: one line, not a traceback
            sys.exit(f"{model}: {error}")
        print(model, json.dumps(results[model]["scores"]), "mean", results[model]["mean"], flush=True)
    best = max(results, key=lambda m: results[m]["mean"])
    candidates = [m for m in results if m != "bundled"]
    scan_refusals = {m: guard_failures(results[m]["unlabelled_wmh_ml"], results["bundled"]["unlabelled_wmh_ml"])
                     for m in candidates if args.unlabelled_scans}
    tumour_refusals = {m: tumour_guard_failures(results[m]["scores"])
                       for m in candidates if args.rule.startswith("real-half")}
    choice = choose(results, scan_refusals, tumour_refusals, args.record_only)
    from RadioWMHSegLib.precision import resolve_precision

    record = {"command": "python benchmarks/choose_model.py " + " ".join(sys.argv[1:]),
              "pipeline_precision": resolve_precision("auto", "cpu"), "models": results,
              "highest_score": best, "refused_by_real_scan_guard": {m: f for m, f in scan_refusals.items() if f},
              "refused_by_tumour_guard": {m: f for m, f in tumour_refusals.items() if f},
              "record_only": args.record_only,
              "ships": choice if choice not in (None, "bundled") and "bundled" in results else None}
    from RadioWMHSegLib.safe_write import atomic_write_json

    atomic_write_json(args.output, record)
    for model, result in results.items():
        verdict = (f"  refused: too much WMH on {scan_refusals[model]}" if scan_refusals.get(model) else "") + (
            f"  refused: tumour called WMH on {tumour_refusals[model]}" if tumour_refusals.get(model) else "") + (
            "  (record only)" if model in args.record_only else "")
        print(f"{result['mean']:.4f}  {model}{verdict}")


if __name__ == "__main__":
    main()
