"""How bright WMH are over normal white matter, in real and synthetic training cases, as the network sees them.

    python benchmarks/lesion_contrast.py DATASET [DATASET ...] -o contrast.json [--case FLAIR MASK [--skull-stripped]]
        [--pooled] [--below LEVEL ...]

Each DATASET must have its training cache (DATASET/preprocessed, made by `radiowmhseg finetune` or
`pretrain`): the crop-grid images after brain extraction, registration, N4 and the robust normalisation,
so real and synthetic cases are measured on the same scale, the one the network is given (brain median 0,
robust spread 1). --case measures one labelled scan outside any dataset (e.g. the real dev case) through the
whole pipeline, as `radiowmhseg segment` preprocesses it. Per case:
- `nawm`: median of normal-appearing white matter: the MNI white-matter probability >= 0.9, inside the
  brain mask, minus the WMH (label 1) dilated by 2 voxels and minus label 2 dilated by 2 voxels;
- `wmh_p10`, `wmh_median`: 10th percentile and median of the WMH voxels;
- `excess_p10`, `excess_median`: those minus `nawm`, in robust units (what sets a lesion apart);
- `cortex`: median of grey matter (MNI grey-matter probability >= 0.7, inside the brain, away from
  label 1 and 2 as above), and `wmh_over_cortex`: the WMH median minus it (negative: WMH darker than cortex).
Cases with fewer than 100 WMH voxels are listed but not summarised. Each dataset's summary counts its cases
whose WMH median lies below each --below level over normal white matter, and below cortex; --pooled adds one
summary over all the datasets given. Why: the faint-WMH attempts of
docs/model.md taught the network to call real normal white matter WMH; this says whether the synthetic
faint cases are fainter than any real labelled WMH.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)

MIN_WMH_VOXELS = 100
WM_PROBABILITY = 0.9
GM_PROBABILITY = 0.7  # grey matter is thin: a lower level keeps enough cortex voxels


def tissue_crop(kind) -> np.ndarray:
    """The MNI grey ('gm') or white ('wm') matter probability on the network's crop grid (z, y, x)."""
    import SimpleITK as sitk

    from RadioWMHSegLib.templates import mni_tissue, to_crop_grid

    return sitk.GetArrayFromImage(to_crop_grid(mni_tissue(kind)))


def case_contrast(image, label, brain, white_matter, grey_matter) -> dict:
    """The contrast figures of one cached case (arrays on the crop grid)."""
    from scipy import ndimage

    wmh = label == 1
    near = ndimage.binary_dilation(wmh, iterations=2) | ndimage.binary_dilation(label == 2, iterations=2)
    nawm = (white_matter >= WM_PROBABILITY) & (brain > 0) & ~near
    cortex = (grey_matter >= GM_PROBABILITY) & (brain > 0) & ~near
    row = {"wmh_voxels": int(wmh.sum()), "nawm_voxels": int(nawm.sum())}
    if min(wmh.sum(), nawm.sum(), cortex.sum()) < MIN_WMH_VOXELS:
        return row
    image = image.astype(np.float32)
    level, grey = float(np.median(image[nawm])), float(np.median(image[cortex]))
    p10, median = (float(v) for v in np.percentile(image[wmh], [10, 50]))
    return {**row, "nawm": round(level, 3), "cortex": round(grey, 3), "wmh_p10": round(p10, 3),
            "wmh_median": round(median, 3), "excess_p10": round(p10 - level, 3),
            "excess_median": round(median - level, 3), "wmh_over_cortex": round(median - grey, 3)}


def summarise(cases, below=()) -> dict:
    """min / median / max of each figure over the measured cases, and how many lie below each level."""
    measured = [c for c in cases if "excess_median" in c]
    summary = {}
    for key in ("excess_p10", "excess_median", "wmh_over_cortex"):
        values = [c[key] for c in measured]
        if values:
            summary[key] = {"min": round(min(values), 3), "median": round(float(np.median(values)), 3),
                            "max": round(max(values), 3)}
    summary["below_level"] = {f"{level:g}": sum(c["excess_median"] < level for c in measured) for level in below}
    summary["darker_than_cortex"] = sum(c["wmh_over_cortex"] < 0 for c in measured)
    return {"measured": len(measured), "summary": summary}


def dataset_contrast(path, tissues, below=()) -> dict:
    cache = Path(path) / "preprocessed"
    record = json.loads((cache / "record.json").read_text(encoding="utf-8"))
    cases = {}
    for name, entry in sorted(record["cases"].items()):
        with np.load(cache / entry["file"]) as arrays:
            if arrays["image"].shape != tissues[0].shape:
                raise SystemExit(f"{path}: its cache holds arrays of shape {arrays['image'].shape}, not the network's "
                                 f"crop grid {tissues[0].shape} (a grid 'as_is' cache): cache it on the crop grid")
            cases[name] = case_contrast(arrays["image"], arrays["label"], arrays["brain_mask"], *tissues)
    return {"cases": cases, **summarise(cases.values(), below)}


def scan_contrast(image_path, label_path, skull_stripped, tissues) -> dict:
    """The contrast figures of one labelled scan, preprocessed as `radiowmhseg segment` does."""
    from RadioWMHSegLib.geometry import grid_difference
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.preprocessing.pipeline import preprocess

    image, mask = read_flair(image_path), read_label(label_path)
    difference = grid_difference(image, mask)
    if difference:  # a mask off the scan's grid would be measured where it lands, silently
        raise SystemExit(f"--case: {label_path} is not on the grid of {image_path} ({difference}): give the mask "
                         "drawn on that scan")
    case = preprocess(image, skull_stripped=skull_stripped, device="cpu")
    label = case.label_to_crop(mask)
    return case_contrast(case.network_input, label, case.brain_mask_crop, *tissues)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", help="dataset folders with a training cache (preprocessed/)")
    parser.add_argument("--case", nargs=2, metavar=("FLAIR", "MASK"), help="also one labelled scan (WMH = 1)")
    parser.add_argument("--skull-stripped", action="store_true", help="the --case scan is already skull-stripped")
    parser.add_argument("--pooled", action="store_true", help="also one summary over all the datasets given")
    parser.add_argument("--below", type=float, nargs="*", default=[], metavar="LEVEL",
                        help="count the cases whose WMH median lies below LEVEL over normal white matter")
    parser.add_argument("-o", "--output", required=True, help="JSON record")
    args = parser.parse_args()
    for path in args.datasets:
        if not (Path(path) / "preprocessed" / "record.json").exists():
            parser.error(f"{path} has no training cache (preprocessed/record.json): train on it once, "
                         "or give a dataset that has one")
    if not args.datasets and not args.case:
        parser.error("give dataset folders, --case FLAIR MASK, or both")
    for path in args.case or ():
        if not Path(path).is_file():
            parser.error(f"--case: {path} does not exist")
    tissues = tissue_crop("wm"), tissue_crop("gm")
    results = {Path(p).name: dataset_contrast(p, tissues, args.below) for p in args.datasets}
    record = {"command": " ".join(sys.argv), "wm_probability": WM_PROBABILITY, "gm_probability": GM_PROBABILITY,
              "datasets": results}
    if args.pooled:
        record["pooled"] = summarise([c for r in results.values() for c in r["cases"].values()], args.below)
        results = {**results, "pooled": record["pooled"]}  # printed as the table's last row
    if args.case:
        record["case"] = {"image": args.case[0], "label": args.case[1],
                          **scan_contrast(*args.case, args.skull_stripped, tissues)}
        print(f"{args.case[0]}: {json.dumps(record['case'])}")
    atomic_write_text(args.output, json.dumps(record, indent=1), overwrite=True)
    print("| dataset | cases measured | WMH median over NAWM: min / median / max "
          "| WMH 10th pct over NAWM: min / median / max | WMH median over cortex: min / median / max "
          "| cases below each --below level | WMH darker than cortex |")
    print("|---|---|---|---|---|---|---|")
    for name, result in results.items():
        s = result["summary"]
        cell = lambda k: " / ".join(f"{s[k][q]:.2f}" for q in ("min", "median", "max")) if k in s else "-"
        cells = " | ".join(cell(k) for k in ("excess_median", "excess_p10", "wmh_over_cortex"))
        below = ", ".join(f"{n} under {level}" for level, n in s["below_level"].items()) or "-"
        print(f"| {name} | {result['measured']} | {cells} | {below} | {s['darker_than_cortex']} |")


if __name__ == "__main__":
    main()
