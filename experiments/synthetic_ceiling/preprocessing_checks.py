"""Is it the preprocessing that hides severe confluent WMH from the model? (a diagnosis, nothing chosen)

    python experiments/synthetic_ceiling/preprocessing_checks.py DATASET/CASE [DATASET/CASE ...] --out RECORD.json

Each synthetic case (e.g. runs/glioma_severe_test/case_002) is segmented three times with the model
(default the bundled one), the pipeline as shipped but for one step:
- `shipped`: as `radiowmhseg segment --skull-stripped` does;
- `normalised_without_wmh`: the robust normalisation (brain median and IQR) computed with the true WMH
  (dilated by one voxel) left out, as if the lesion load did not move those statistics (an oracle:
  intensity.py assumes WMH is a few percent of the brain, which severe cases break);
- `without_n4`: the N4 bias-field correction skipped (N4 may take a broad confluent brightening for bias).
If neither raises the Dice, the model, not these steps, misses the WMH.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="DATASET/CASE, e.g. runs/glioma_severe_test/case_002")
    parser.add_argument("--out", required=True, help="JSON record (a new file)")
    parser.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    args = parser.parse_args()
    if Path(args.out).exists():
        sys.exit(f"{args.out} exists: give a new file name")

    import SimpleITK as sitk
    from scipy import ndimage as ndi

    import RadioWMHSegLib.preprocessing.crop as crop
    import RadioWMHSegLib.preprocessing.pipeline as pipeline
    from RadioWMHSegLib.datasets import image_relpath, label_relpath
    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.metrics import compute_metrics
    from RadioWMHSegLib.model_io import load_model
    from RadioWMHSegLib.preprocessing.intensity import CLIP_SIGMA, IQR_TO_SIGMA
    from RadioWMHSegLib.segment import segment_image

    loaded = load_model(args.model, "cpu")
    shipped_normalise, shipped_n4 = crop.normalise_intensity, pipeline.correct_bias_field
    rows = []
    for name in args.cases:
        dataset, case = Path(name).parent, Path(name).name
        image = read_flair(dataset / image_relpath(case))
        label = read_label(dataset / label_relpath(case))
        wmh = ndi.binary_dilation(sitk.GetArrayFromImage(label) == 1, iterations=1)

        def normalise_without_wmh(array, mask):
            # The synthetic case lies on the crop grid already; its registration moves it by a voxel or so.
            if array.shape != wmh.shape:
                sys.exit(f"{name}: not on the crop grid ({array.shape} vs {wmh.shape}): give a synthetic case")
            inside = np.asarray(mask) > 0
            q25, median, q75 = np.percentile(np.asarray(array, np.float64)[inside & ~wmh], [25, 50, 75])
            out = np.zeros(array.shape, np.float32)
            out[inside] = np.clip((array[inside] - median) / ((q75 - q25) / IQR_TO_SIGMA), -CLIP_SIGMA, CLIP_SIGMA)
            return out

        def without_n4(image, mask, *args, **kwargs):
            return sitk.Cast(image, sitk.sitkFloat32), {"skipped": True}

        variants = {"shipped": (shipped_normalise, shipped_n4),
                    "normalised_without_wmh": (normalise_without_wmh, shipped_n4),
                    "without_n4": (shipped_normalise, without_n4)}
        row = {"case": name}
        for variant, (normalise, n4) in variants.items():
            crop.normalise_intensity, pipeline.correct_bias_field = normalise, n4
            try:
                result = segment_image(image, model=loaded, device="cpu", skull_stripped=True)
            finally:
                crop.normalise_intensity, pipeline.correct_bias_field = shipped_normalise, shipped_n4
            metrics = compute_metrics(result.mask, sitk.Cast(label == 1, sitk.sitkUInt8))
            row[variant] = {k: round(float(metrics[k]), 3) for k in ("dsc", "sensitivity", "precision", "hd95")}
        print(json.dumps(row), flush=True)
        rows.append(row)
    document = {"command": "python experiments/synthetic_ceiling/preprocessing_checks.py " + " ".join(sys.argv[1:]),
                "model": args.model or "bundled", "cases": rows}
    Path(args.out).write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
