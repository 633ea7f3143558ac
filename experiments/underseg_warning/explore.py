"""Does the probability map tell when version 10 leaves most of a case's WMH out? (a look before any rule)

    python experiments/underseg_warning/explore.py --out RECORD.json [--data ../shared/data] [--runs /work/runs]
        [--held-out]

`experiments/synthetic_ceiling/` found version 10 misses most of extensive or faint confluent WMH (sensitivity
0.09-0.4) while its mask looks clean (precision 0.8-0.96), so a user would read a WMH volume far too low with no
sign of doubt. Where it misses, P(WMH) is often raised without reaching 0.5. Measured here, per case, on validation
cases only (never the test sets, never the dev case): the WMH found (P >= the threshold, after the shipped post-
processing), the volume of "borderline" voxels (P in [low, threshold) for a few lows, inside the brain, outside the
mask), and, where there is a truth, the sensitivity. If a ratio borderline / found separates the cases with low
sensitivity and stays low on every real scan, a warning is worth a rule; this script only measures. --held-out: the
rule's check (RULE.md) on the four synthetic test sets and, as a false-alarm check, the real dev case. Each row says
whether RULE.md's first rule fires (`warned`: at least MIN_FOUND_ML found and more borderline tissue at P >= 0.2 than
found); the held-out record was made with the rule wired into segment.py as a warning, which failed the check and
was taken out.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

# The validation sets of benchmarks/choose_model.py and the val2 guard (experiments/rebuild_runs.sh).
VALIDATION_SETS = ("glioma_val", "glioma_severe_val", "rad_severe_val", "glioma_extreme_val", "glioma_severe_val2")
TEST_SETS = ("syn_test_v3", "rad_severe_test", "glioma_test", "glioma_severe_test")
BORDERLINE_LOWS = (0.1, 0.2, 0.3)
MIN_FOUND_ML = 10.0  # RULE.md: the rule fires with at least this much WMH found ...
RULE_LOW = 0.2  # ... and more borderline tissue at P in [RULE_LOW, threshold) than WMH found


def measure(result, truth=None, white_matter=None) -> dict:
    """white_matter: the MNI white-matter probability on the input grid (where the borderline tissue lies)."""
    import SimpleITK as sitk

    from RadioWMHSegLib.choices import DEFAULT_THRESHOLD

    probability = sitk.GetArrayFromImage(result.probability)
    mask = sitk.GetArrayFromImage(result.mask) > 0
    brain = sitk.GetArrayFromImage(result.brain_mask) > 0
    voxel_ml = float(np.prod(result.mask.GetSpacing())) / 1000.0
    threshold = DEFAULT_THRESHOLD  # every case here is segmented with the shipped settings
    row = {"found_ml": round(float(mask.sum()) * voxel_ml, 3), "brain_ml": round(float(brain.sum()) * voxel_ml, 1)}
    for low in BORDERLINE_LOWS:
        borderline = brain & ~mask & (probability >= low) & (probability < threshold)
        row[f"borderline_{low}_ml"] = round(float(borderline.sum()) * voxel_ml, 3)
        if white_matter is not None:
            in_wm = borderline & (sitk.GetArrayFromImage(white_matter) >= 0.5)
            row[f"borderline_{low}_in_wm_ml"] = round(float(in_wm.sum()) * voxel_ml, 3)
    if truth is not None:
        true = sitk.GetArrayFromImage(truth) == 1
        row["true_ml"] = round(float(true.sum()) * voxel_ml, 3)
        row["sensitivity"] = round(float(mask[true].mean()), 4) if true.any() else None
        row["dice"] = round(2.0 * float((mask & true).sum()) / max(1, int(mask.sum() + true.sum())), 4)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON record (a new file)")
    parser.add_argument("--data", default=str(REPOSITORY.parent / "shared" / "data"))
    parser.add_argument("--runs", default="/work/runs")
    parser.add_argument("--held-out", action="store_true", help="the test sets and the dev case (RULE.md's check)")
    parser.add_argument("--sets", nargs="+", help="these synthetic datasets (under --runs) alone, instead")
    args = parser.parse_args()
    if Path(args.out).exists():
        sys.exit(f"{args.out} exists: give a new file name")

    import SimpleITK as sitk
    from bench_raw_flair import raw_cases

    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.model_io import load_model
    from RadioWMHSegLib.segment import segment_image

    loaded = load_model(None, "cpu")
    todo = []
    for name in args.sets or (TEST_SETS if args.held_out else VALIDATION_SETS):
        for case in load_dataset(Path(args.runs) / name).cases:
            todo.append((f"{name}/{case.name}", case.image_path, case.label_path, True))
    if args.sets:
        pass
    elif args.held_out:
        dev = Path(args.data) / "open_ms" / "dev_case_patient26"
        todo.append(("dev_patient26", dev / "FLAIR.nii.gz", dev / "GOLD_STANDARD.nii.gz", True))
    else:
        for name, flair, truth, _ in raw_cases(Path(args.data)):
            todo.append((name, flair, truth, False))
        todo.append(("sample", REPOSITORY / "Resources" / "Sample" / "sample_flair.nii.gz",
                     REPOSITORY / "Resources" / "Sample" / "sample_wmh_truth.nii.gz", False))
    from RadioWMHSegLib.preprocessing import pipeline
    from RadioWMHSegLib.segment import on_input_grid
    from RadioWMHSegLib.templates import mni_tissue, to_crop_grid

    white_matter_crop = sitk.GetArrayFromImage(to_crop_grid(mni_tissue("wm")))
    preprocess, cases = pipeline.preprocess, []
    # Each case's preprocessing kept, to carry the MNI white matter to its grid by the pipeline's own transform.
    pipeline.preprocess = lambda *a, **k: cases.append(preprocess(*a, **k)) or cases[-1]
    rows = []
    try:
        for name, flair, truth, stripped in todo:
            result = segment_image(read_flair(flair), model=loaded, device="cpu", skull_stripped=stripped)
            white_matter = on_input_grid(cases[-1], white_matter_crop)
            row = {"case": name, **measure(result, read_label(truth) if truth else None, white_matter)}
            row["warned"] = row["found_ml"] >= MIN_FOUND_ML and row[f"borderline_{RULE_LOW}_ml"] > row["found_ml"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        pipeline.preprocess = preprocess
    document = {"command": "python experiments/underseg_warning/explore.py " + " ".join(sys.argv[1:]),
                "model": "bundled", "cases": rows}
    Path(args.out).write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
