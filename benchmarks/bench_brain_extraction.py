"""Brain-extraction candidates side by side on raw scans: HD-BET's network at several grids, and the
template method, each timed, with its brain volume and its agreement with HD-BET at its own 1.5 mm.

    python benchmarks/bench_brain_extraction.py [--data ../shared/data] [--spacings 1.5 2 2.5 3]
        [--cases sim_vent_105755 ...] [--out docs/brain_extraction_benchmark.md]

'hd-bet@S' is brain_extraction.hdbet_brain_mask at S mm (1.5 is HD-BET's own training grid, the
reference); 'template' is the MNI brain mask carried through a whole-head registration and fitted
to the image (skull_strip.py). Where the dataset ships its own (tight, interior) brain mask, the
share of it inside each candidate's mask is given too (it should be ~1).
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)


def template_mask(working):
    from RadioWMHSegLib.preprocessing.bias_field import correct_bias_field
    from RadioWMHSegLib.preprocessing.registration import register_to_mni
    from RadioWMHSegLib.preprocessing.skull_strip import carry_template_mask, refine_template_mask

    transform, _ = register_to_mni(working)
    carried = carry_template_mask(working, transform)
    corrected, _ = correct_bias_field(working, carried)
    mask, _ = refine_template_mask(corrected, carried)
    return mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPOSITORY.parent / "shared" / "data"))
    parser.add_argument("--spacings", type=float, nargs="+", default=[1.5, 2.0, 2.5, 3.0])
    parser.add_argument("--cases", nargs="*")
    parser.add_argument("--out", default=str(REPOSITORY / "docs" / "brain_extraction_benchmark.md"))
    args = parser.parse_args()

    import numpy as np
    import SimpleITK as sitk

    from bench_pipeline import machine
    from bench_raw_flair import raw_cases
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.metrics import dice
    from RadioWMHSegLib.preprocessing.brain_extraction import hdbet_brain_mask
    from RadioWMHSegLib.preprocessing.reorient_resample import reorient_resample

    lines = ["| case | method | seconds | brain mL | Dice vs hd-bet@1.5 | dataset mask inside |", "|---|---|---|---|---|---|"]
    rows = []
    for name, flair, _, dataset_brain in raw_cases(Path(args.data)):
        if args.cases and name not in args.cases:
            continue
        image = read_flair(flair)
        working = reorient_resample(image)
        theirs = None
        if dataset_brain is not None and dataset_brain.exists():
            theirs = sitk.Resample(read_label(dataset_brain), working, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
            theirs = sitk.GetArrayFromImage(theirs) > 0
        masks = {}
        for method in [f"hd-bet@{s:g}" for s in args.spacings] + ["template"]:
            start = time.perf_counter()
            if method == "template":
                mask = template_mask(working)
            else:
                mask, _ = hdbet_brain_mask(working, "cpu", float(method.split("@")[1]))
            seconds = time.perf_counter() - start
            masks[method] = sitk.GetArrayFromImage(mask) > 0
            rows.append({"case": name, "method": method, "seconds": round(seconds, 1),
                         "brain_ml": round(float(masks[method].sum()) / 1000.0, 1)})
        reference = masks.get("hd-bet@1.5")
        for row in rows[-len(masks):]:
            mask = masks[row["method"]]
            row["dice_vs_hdbet_1.5"] = round(dice(mask, reference), 3) if reference is not None else None
            row["dataset_mask_inside"] = round(float((mask & theirs).sum()) / float(theirs.sum()), 3) \
                if theirs is not None else None
            lines.append(f"| {name} | {row['method']} | {row['seconds']} | {row['brain_ml']} | "
                         f"{row['dice_vs_hdbet_1.5']} | {row['dataset_mask_inside']} |")
            print(json.dumps(row), flush=True)
    document = "\n".join(lines) + "\n\n" + f"Machine: {json.dumps(machine())}\n\nCommand: `{' '.join(sys.argv)}`\n"
    atomic_write_text(args.out, document, overwrite=True)
    print(document)


if __name__ == "__main__":
    main()
