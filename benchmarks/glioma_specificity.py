"""How much of a glioma (tumour, oedema, resection cavity) a model calls WMH, and whether it still finds
the WMH around it: issue 8's synthetic glioma test.

    python benchmarks/glioma_specificity.py DATASET [--model MODEL_DIR ...] [--tta] -o OUT.json

DATASET: synthetic glioma cases (`radiowmhseg synth runs/glioma_test --n 4 --phenotype glioma --seed 900`),
labelled 1 = WMH, 2 = tumour/oedema/cavity; skull-stripped MNI-space FLAIRs, segmented from their files as
a user would (`segment_image`). Per case and model:
- `pathology_called_wmh`: the share of the label-2 region inside the predicted WMH mask (target <= 5 %);
- `wmh_dice_outside`: Dice of the WMH prediction against the true WMH, both outside the label-2 region
  (target >= 0.8; undefined for a case without WMH, whose `wmh_found_outside_ml` is then all false positives);
- `pathology_mask_dice`: for a model with the 'other pathology' class, Dice of its label-2 output;
- `wmh_called_pathology`: the share of the true WMH inside the predicted label-2 mask (0 for a 2-class model),
  and `pathology_found_ml`, the predicted label-2 volume: on tumour-free cases (e.g. severe radiation-induced
  WMH, `radiowmhseg synth runs/rad_severe_val --n 3 --seed 830 --severity 0.6 1.0`) all of it is wrong.
Prints a table and writes OUT.json. The model defaults to the bundled one.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))


def score_case(truth, result) -> dict:
    import numpy as np
    import SimpleITK as sitk

    from RadioWMHSegLib.metrics import dice

    labels = sitk.GetArrayFromImage(truth)
    wmh_pred = sitk.GetArrayFromImage(result.mask) > 0
    pathology = labels == 2
    outside = ~pathology
    voxel_ml = float(np.prod(truth.GetSpacing())) / 1000.0
    true_wmh = (labels == 1) & outside
    scores = {
        "pathology_ml": round(float(pathology.sum()) * voxel_ml, 2),
        "pathology_called_wmh": round(float((wmh_pred & pathology).sum()) / max(int(pathology.sum()), 1), 4),
        "true_wmh_ml": round(float(true_wmh.sum()) * voxel_ml, 2),
        "wmh_found_outside_ml": round(float((wmh_pred & outside).sum()) * voxel_ml, 2),
        # Undefined (None) for a case without WMH: there, wmh_found_outside_ml is all false positives.
        "wmh_dice_outside": round(float(dice(wmh_pred & outside, true_wmh)), 4) if true_wmh.any() else None,
    }
    predicted = np.zeros_like(pathology)
    if getattr(result, "pathology_mask", None) is not None:
        predicted = sitk.GetArrayFromImage(result.pathology_mask) > 0
        scores["pathology_mask_dice"] = round(float(dice(predicted, pathology)), 4)
    all_wmh = labels == 1
    scores["wmh_called_pathology"] = round(float((predicted & all_wmh).sum()) / max(int(all_wmh.sum()), 1), 4)
    scores["pathology_found_ml"] = round(float(predicted.sum()) * voxel_ml, 2)
    return scores


def score_dataset(loaded, dataset, tta, name="") -> list:
    """score_case of every case of a synthetic dataset, segmented from its file as a user would (default settings)."""
    from RadioWMHSegLib.datasets import load_dataset
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.segment import segment_image

    rows = []
    for case in load_dataset(dataset).cases:
        started = time.perf_counter()
        result = segment_image(read_flair(case.image_path), skull_stripped=True, model=loaded, device="cpu", tta=tta)
        rows.append({"case": case.name, **score_case(read_label(case.label_path), result),
                     "seconds": round(time.perf_counter() - started, 1)})
        print(name or Path(dataset).name, json.dumps(rows[-1]), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--model", nargs="*", default=[None], help="model folder(s), 'bundled' for the bundled model (default: the bundled model)")
    parser.add_argument("--tta", action="store_true", help="test-time flips")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()

    import numpy as np

    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.datasets import load_dataset

    if Path(args.output).exists():
        sys.exit(f"{args.output} exists: give a new file name")
    load_dataset(args.dataset)  # a bad dataset is refused before any model is loaded
    results = {}
    for model_dir in args.model:
        model_dir = None if model_dir == "bundled" else model_dir
        loaded = model_io.load_model(model_dir, "cpu")
        name = "bundled" if model_dir is None else Path(model_dir).name
        rows = score_dataset(loaded, args.dataset, args.tta, name)
        results[name] = {"cases": rows, "mean": {
            key: round(float(np.mean([r[key] for r in rows if r[key] is not None])), 4)
            for key in rows[0] if key != "case" and any(r[key] is not None for r in rows)}}
    record = {"dataset": str(Path(args.dataset).resolve()), "tta": args.tta, "results": results,
              "command": "python benchmarks/glioma_specificity.py " + " ".join(sys.argv[1:])}
    Path(args.output).write_text(json.dumps(record, indent=1), encoding="utf-8")
    print("| model | cases | tumour/oedema/cavity called WMH | WMH Dice outside it (cases with WMH) |")
    print("|---|---|---|---|")
    for name, result in results.items():
        mean = result["mean"]
        print(f"| {name} | {len(result['cases'])} | {100 * mean['pathology_called_wmh']:.1f} % | "
              f"{mean['wmh_dice_outside']:.3f} |")


if __name__ == "__main__":
    main()
