"""Every raw scan of ../shared/data through the whole pipeline, as a user would load it.

    python benchmarks/bench_raw_flair.py [--data ../shared/data] [--out docs/raw_flair_benchmark] [--cases NAME ...]

Per case: brain volume (mL), registration scale, warnings, WMH volume, WMH volume outside the brain
mask (must be 0), seconds, and where a true WMH mask exists, Dice from the raw scan and from the
same scan masked with the dataset's own `brain_mask` (run as --skull-stripped). A PNG of each case
(WMH red, truth blue, brain outline) goes to docs/; the table to OUT.md and OUT.json.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))


def raw_cases(data: Path) -> list:
    """(name, flair, truth or None, dataset brain mask or None) for every raw scan under data."""
    cases = []
    for folder in sorted((data / "sim_vent_wmh").glob("case_*")):
        cases.append((f"sim_vent_{folder.name[5:]}", folder / "FLAIR.nii.gz", folder / "WMH.nii.gz",
                      folder / "brain_mask.nii.gz"))
    for flair in sorted((data / "open_ms" / "raw_flair").glob("*_FLAIR.nii.gz")):
        cases.append((f"open_ms_{flair.name.split('_')[0]}", flair, None, None))
    flair = data / "clinical_flair_1mm" / "FLAIR.nii.gz"
    if flair.exists():
        cases.append(("clinical_flair_1mm", flair, None, None))
    return cases


def masked_with(image, brain_mask_path):
    import SimpleITK as sitk

    mask = sitk.ReadImage(str(brain_mask_path), sitk.sitkUInt8)
    mask.CopyInformation(image)
    return sitk.Mask(image, mask)


def outside_ml(mask, brain):
    import numpy as np
    import SimpleITK as sitk

    voxel_ml = float(np.prod(mask.GetSpacing())) / 1000.0
    outside = (sitk.GetArrayViewFromImage(mask) > 0) & (sitk.GetArrayViewFromImage(brain) == 0)
    return round(float(outside.sum()) * voxel_ml, 3)


def run_case(name, flair, truth, dataset_brain, png_dir, options):
    import SimpleITK as sitk

    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.metrics import compute_metrics, dice
    from RadioWMHSegLib.overlay_png import save_overlay_png
    from RadioWMHSegLib.segment import segment_image

    image = read_flair(flair)
    start = time.perf_counter()
    result = segment_image(image, **options)
    seconds = time.perf_counter() - start
    quality = result.record.get("quality", {})
    row = {"case": name, "size": list(image.GetSize()), "spacing": [round(s, 2) for s in image.GetSpacing()],
           "seconds": round(seconds, 1), "brain_ml": quality.get("brain_volume_ml"),
           "registration_scale": quality.get("registration_scale"),
           "warnings": quality.get("warnings", []),
           "wmh_ml": round(result.stats.total_volume_ml, 2), "lesions": result.stats.count,
           "wmh_outside_brain_ml": outside_ml(result.mask, result.brain_mask)}
    extra = {}
    if truth is not None and truth.exists():
        reference = read_label(truth)
        row["true_ml"] = round(float(sitk.GetArrayViewFromImage(reference).astype(bool).sum())
                               * float(__import__("numpy").prod(image.GetSpacing())) / 1000, 2)
        metrics = compute_metrics(result.mask, reference)
        row.update({"dice_raw": round(metrics["dsc"], 3), "hd95_raw": round(metrics["hd95"], 1),
                    "lesion_f1_raw": round(metrics["lesion_f1"], 3)})
        extra["truth"] = reference
    if dataset_brain is not None and dataset_brain.exists():
        brain = read_label(dataset_brain)
        row["brain_dice_vs_dataset_mask"] = round(dice(result.brain_mask, brain), 3)
        stripped = segment_image(masked_with(image, dataset_brain), **{**options, "skull_stripped": True})
        if truth is not None:
            row["dice_masked"] = round(compute_metrics(stripped.mask, reference)["dsc"], 3)
    extra["brain"] = result.brain_mask
    save_overlay_png(image, result.mask, png_dir / f"raw_{name}_wmh.png", extra_masks=extra,
                     title=f"{name}: WMH {row['wmh_ml']} mL (red), truth (blue), brain {row['brain_ml']} mL (outline)")
    return row


def markdown_table(rows) -> str:
    columns = ["case", "spacing", "brain_ml", "registration_scale", "wmh_ml", "true_ml", "dice_raw", "dice_masked",
               "hd95_raw", "lesion_f1_raw", "wmh_outside_brain_ml", "brain_dice_vs_dataset_mask", "seconds", "warnings"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            cells.append("; ".join(value) if column == "warnings" else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPOSITORY.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(REPOSITORY / "docs" / "raw_flair_benchmark"))
    parser.add_argument("--png-dir", default=str(REPOSITORY / "docs"))
    parser.add_argument("--cases", nargs="*", help="only these case names")
    parser.add_argument("--skull-strip-method", default="auto")
    parser.add_argument("--model", help="model folder (default: bundled)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from bench_pipeline import machine

    options = {"skull_strip_method": args.skull_strip_method, "model": args.model}
    rows = []
    for name, flair, truth, brain in raw_cases(Path(args.data)):
        if args.cases and name not in args.cases:
            continue
        row = run_case(name, flair, truth, brain, Path(args.png_dir), options)
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = Path(args.out)
    document = {"machine": machine(), "command": " ".join(sys.argv), "options": options, "cases": rows}
    out.with_suffix(".json").write_text(json.dumps(document, indent=1))
    out.with_suffix(".md").write_text(markdown_table(rows))
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
