"""How much of a synthetic case's WMH label can be seen in its image at all? (a diagnosis, nothing chosen)

    python experiments/synthetic_ceiling/ceiling.py DATASET [DATASET ...] --out RECORD.json [--model MODEL]

Each case of a synthetic dataset is drawn again from its seed twice: as written, and with the WMH left unpainted
(every other draw the same: the generator's random streams do not depend on what the lesions hold, and the
hard negatives are placed from the same lesion maps). Their difference is what the WMH adds to the image after
the deformation, bias field, blur, noise and thick slices: R = (with - without) / without, the relative
brightening, noise-free. From it:
- the signal oracle: the best Dice of any voxel-wise rule on R (or on R smoothed a little), knowing the truth,
  and {R > c} at one level c for every case: a detector that knows, without noise, exactly where WMH brightened
  the image and by how much, and no more. Its Dice against the label is what partial volumes, blur and thick
  slices alone leave of the label (not a strict bound: a shape prior could fill in, but nothing in the image
  tells where);
- the share of the label brightened by less than c (faint, or blurred away on thick slices);
- the model's Dice, and its sensitivity on the part of the label brightened by c or more and on the rest.
A case whose regenerated image differs from the stored one (a later generator version) stops the run.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))

# Relative brightening levels the oracle is thresholded at; 0.05 is 5 % over what the voxel would be without WMH.
LEVELS = (0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)
# Gaussian widths (mm) R is also smoothed with before the voxel-wise oracle: a little spatial help (noise-free R
# needs none against noise, but smoothing can undo some of the soft edges), so that the ceiling is generous.
ORACLE_SMOOTHING_MM = (1.0, 2.0)
# Distance from the lateral ventricles (mm, in the deformed case) at which the label is split: the thin
# periventricular rim (radiation WMH's band is 1.5 + 9 * severity^1.2 mm: synth/lesions.py) and beyond.
DISTANCE_EDGES = (0.0, 3.0, 6.0, 10.0, np.inf)
# The level whose split of the label (seen / barely seen) the model's sensitivity is reported on.
SPLIT_LEVEL = 0.05


def regenerate(record: dict, entry: dict, index: int, without_wmh: bool):
    """The case's (image, label, ventricle distance in mm) drawn again as generate_cohort drew it, optionally with
    no WMH painted."""
    from RadioWMHSegLib.synth import generator
    from RadioWMHSegLib.synth.anatomy import template_anatomy
    from RadioWMHSegLib.synth.deformation import warp_nearest

    severity_range = record.get("severity")
    contrast_range = record.get("wmh_contrast")
    paint, indices = generator.template_space_image, generator.nearest_indices
    taken = []
    # The deformation's voxel map, kept to carry the template's ventricle distance into the case.
    generator.nearest_indices = lambda deformation, shape: taken.append(indices(deformation, shape)) or taken[-1]
    if without_wmh:
        # Only the painting is changed: labels, mimics and every random draw still see the real lesion maps.
        generator.template_space_image = lambda rng, anatomy, lesions, contrast: paint(
            rng, anatomy, dataclasses.replace(lesions, wmh=np.zeros_like(lesions.wmh)), contrast)
    try:
        image, label, _ = generator.generate_case(
            entry["seed"], entry["phenotype"], skull=record["skull"],
            thick_slice_probability=record["thick_slice_probability"], lesion_bank=record.get("lesion_bank"),
            hard_negatives=record["hard_negatives"],
            severity=generator.case_severity(severity_range, record["seed"], index),
            wmh_contrast=generator.case_wmh_contrast(contrast_range, record["seed"], index))
    finally:
        generator.template_space_image, generator.nearest_indices = paint, indices
    distance = warp_nearest(template_anatomy(None).ventricle_distance, taken[0])
    return image, label, distance


def best_voxelwise_dice(relative, label, inside, bins=400) -> float:
    """The best Dice of any voxel-wise decision from R alone: R cut into bins (inside the brain), the bins
    taken in order of their share of label voxels while that raises the Dice. The best a rule of the form
    "call voxel v from R(v)" can do, even one that knows this case's truth; blind to neighbours."""
    values = relative[inside]
    # R is 0 on most of the brain: one bin for "not brightened", quantile bins over the brightened voxels.
    brightened = values[values > 1e-6]
    edges = np.unique(np.concatenate([[-np.inf, 1e-6], np.quantile(brightened, np.linspace(0, 1, bins + 1))
                                      if brightened.size else [], [np.inf]]))
    which = np.searchsorted(edges, values, side="right") - 1
    total = np.bincount(which, minlength=len(edges) - 1).astype(float)
    hits = np.bincount(which, weights=label[inside].astype(float), minlength=len(edges) - 1)
    order = np.argsort(-(hits / np.maximum(total, 1.0)))
    n_label = float(label.sum())
    scores = 2.0 * np.cumsum(hits[order]) / (np.cumsum(total[order]) + n_label)
    return float(scores.max()) if n_label else 1.0


def case_record(dataset: Path, record: dict, entry: dict, index: int, loaded) -> dict:
    import SimpleITK as sitk

    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.metrics import compute_metrics, dice

    stored = read_flair(dataset / entry["image"])
    label = sitk.GetArrayFromImage(read_label(dataset / entry["label"])) == 1
    with_wmh, _, distance = regenerate(record, entry, index, without_wmh=False)
    without, _, _ = regenerate(record, entry, index, without_wmh=True)
    stored_array, with_array = sitk.GetArrayFromImage(stored), sitk.GetArrayFromImage(with_wmh)
    if not np.allclose(stored_array, with_array, rtol=0, atol=1e-3 * float(stored_array.max())):
        sys.exit(f"{dataset.name}/{entry['case']}: drawn again from its seed it is not the stored image "
                 "(made by another generator version): rebuild the dataset with experiments/rebuild_runs.sh")
    without_array = sitk.GetArrayFromImage(without)
    floor = 0.05 * float(entry["contrast"]["wm_level"])  # keeps R finite in the dark CSF
    relative = (with_array - without_array) / np.maximum(without_array, floor)
    spacing = stored.GetSpacing()

    inside = without_array > 0
    oracle = {"best_voxelwise": round(best_voxelwise_dice(relative, label, inside), 4)}
    oracle["best_voxelwise_smoothed"] = {str(sigma): round(best_voxelwise_dice(
        ndi.gaussian_filter(relative, sigma), label, inside), 4) for sigma in ORACLE_SMOOTHING_MM}
    for level in LEVELS:
        shown = relative > level
        below = round(float((relative[label] <= level).mean()), 4) if label.any() else None
        oracle[str(level)] = {"dsc": round(dice(shown, label), 4), "label_share_below": below}

    started = time.perf_counter()
    from RadioWMHSegLib.segment import segment_image

    result = segment_image(stored, model=loaded, device="cpu", skull_stripped=True)
    predicted = sitk.GetArrayFromImage(result.mask) > 0
    model = {k: round(float(v), 4) for k, v in compute_metrics(predicted, label.astype(np.uint8), spacing).items()}
    seen = label & (relative > SPLIT_LEVEL)
    faint = label & ~(relative > SPLIT_LEVEL)
    model["sensitivity_seen"] = round(float(predicted[seen].mean()), 4) if seen.any() else None
    model["sensitivity_faint"] = round(float(predicted[faint].mean()), 4) if faint.any() else None
    model["by_ventricle_distance"] = []
    for low, high in zip(DISTANCE_EDGES[:-1], DISTANCE_EDGES[1:]):
        part = label & (distance >= low) & (distance < high)
        model["by_ventricle_distance"].append({
            "mm": [low, None if np.isinf(high) else high],
            "label_share": round(float(part.sum() / label.sum()), 4) if label.any() else None,
            "sensitivity": round(float(predicted[part].mean()), 4) if part.any() else None,
            "seen_share": round(float((relative[part] > SPLIT_LEVEL).mean()), 4) if part.any() else None})
    # As the real cases are scored with their periventricular bands unscored: both masks beyond X mm only.
    model["dsc_beyond_mm"] = {str(x): round(dice(predicted & (distance >= x), label & (distance >= x)), 4)
                              for x in (3.0, 6.0)}
    oracle["best_voxelwise_beyond_mm"] = {str(x): round(best_voxelwise_dice(
        relative, label & (distance >= x), inside & (distance >= x)), 4) for x in (3.0, 6.0)}
    model["seconds"] = round(time.perf_counter() - started, 1)
    return {"dataset": dataset.name, "case": entry["case"], "wmh_ml": round(float(label.sum()) / 1000.0, 2),
            "wmh_contrast": entry["contrast"]["wmh"], "acquisition": entry["acquisition"],
            "oracle": oracle, "model": model, "_arrays": (relative, label, spacing)}


def oracle_metrics(relative, label, spacing, level: float) -> dict:
    """Full metrics (HD95, lesion F1) of the oracle {R > level}."""
    from RadioWMHSegLib.metrics import compute_metrics

    return {k: round(float(v), 4) for k, v in compute_metrics(relative > level, label.astype(np.uint8),
                                                              spacing).items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", help="synthetic dataset folders (radiowmhseg synth)")
    parser.add_argument("--out", required=True, help="JSON record (a new file)")
    parser.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    args = parser.parse_args()
    if Path(args.out).exists():
        sys.exit(f"{args.out} exists: give a new file name")

    from RadioWMHSegLib.datasets import read_dataset_json
    from RadioWMHSegLib.model_io import load_model

    loaded = load_model(args.model, "cpu")
    cases = []
    for name in args.datasets:
        dataset = Path(name)
        data = read_dataset_json(dataset)
        record = data.get("generator")
        if not record:
            sys.exit(f"{dataset} has no generator record: give a dataset made by `radiowmhseg synth`")
        for index, entry in enumerate(data["training"]):
            row = case_record(dataset, record, entry, index, loaded)
            print(json.dumps({k: row[k] for k in ("dataset", "case", "wmh_ml")} | {
                "oracle_dsc": {k: v.get("dsc", v) if isinstance(v, dict) else v for k, v in row["oracle"].items()},
                "model_dsc": row["model"]["dsc"], "seen": row["model"]["sensitivity_seen"],
                "faint": row["model"]["sensitivity_faint"]}), flush=True)
            cases.append(row)

    # One level for all cases, the best on average over the cases with WMH (the oracle's most favourable setting).
    with_wmh = [c for c in cases if c["wmh_ml"] > 0] or cases
    mean_dsc = {level: float(np.mean([c["oracle"][str(level)]["dsc"] for c in with_wmh])) for level in LEVELS}
    best = max(mean_dsc, key=mean_dsc.get)
    for row in cases:
        row["oracle_at_best_level"] = oracle_metrics(*row.pop("_arrays"), best)
    document = {"command": "python experiments/synthetic_ceiling/ceiling.py " + " ".join(sys.argv[1:]),
                "model": args.model or "bundled", "levels": list(LEVELS), "split_level": SPLIT_LEVEL,
                "best_level": best, "oracle_mean_dsc_by_level": {str(k): round(v, 4) for k, v in mean_dsc.items()},
                "cases": cases}
    Path(args.out).write_text(json.dumps(document, indent=1) + "\n")
    print(f"best single level {best}: oracle mean Dice {mean_dsc[best]:.3f}; model mean Dice "
          f"{np.mean([c['model']['dsc'] for c in cases]):.3f}")


if __name__ == "__main__":
    main()
