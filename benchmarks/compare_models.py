"""Two or more models side by side on the cases none of them trained on, through the whole pipeline.

    python benchmarks/compare_models.py MODEL [MODEL ...] [--bundled] [--synthetic DATASET]
        [--data ../shared/data] --out OUT.md

MODEL: a model folder, or 'bundled' (the model shipped in Resources/Models; --bundled adds it too). Every model is
loaded before any case is segmented, so a wrong folder or dataset stops the run at once; OUT.md must not exist yet.

Cases: the bundled README sample (skull on, synthetic radiation-induced WMH), the real MS dev case
patient 26 (skull-stripped, 1 mm; ../shared/data), and the cases of a synthetic dataset (e.g.
`radiowmhseg synth runs/syn_test --n 5 --phenotype radiation --seed 400`, skull-stripped MNI-space
FLAIRs). Each is segmented from its file as a user would (`segment_image`), scored with the
WMH-challenge metrics on its own grid.
"""

import argparse
import json
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))


def cases(data: Path, synthetic) -> list:
    """(name, flair, truth, skull_stripped) of every case to score."""
    found = [("sample", REPOSITORY / "Resources" / "Sample" / "sample_flair.nii.gz",
              REPOSITORY / "Resources" / "Sample" / "sample_wmh_truth.nii.gz", False)]
    dev = data / "open_ms" / "dev_case_patient26"
    if dev.exists():
        found.append(("dev_patient26", dev / "FLAIR.nii.gz", dev / "GOLD_STANDARD.nii.gz", True))
    if synthetic:
        from RadioWMHSegLib.datasets import load_dataset

        for case in load_dataset(synthetic).cases:
            found.append((f"synthetic_{case.name}", case.image_path, case.label_path, True))
    return found


def load_models(names, bundled=False) -> list:
    """(name, model_io.LoadedModel) of each model named ('bundled' or a folder); a model that cannot be loaded
    stops the run in one line, before any case is segmented."""
    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.errors import RadioWMHSegError

    names = (["bundled"] if bundled else []) + list(names)
    if not names:
        sys.exit("no model given: name model folders, or 'bundled' for the bundled model")
    models = []
    for name in names:
        try:
            loaded = model_io.load_model(None if name == "bundled" else name, "cpu")
        except RadioWMHSegError as error:
            sys.exit(f"model {name}: {error}")
        models.append(("bundled" if name == "bundled" else Path(name).name, loaded))
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model folders, or 'bundled'")
    parser.add_argument("--bundled", action="store_true", help="include the bundled model")
    parser.add_argument("--synthetic", help="a synthetic (skull-stripped) dataset of held-out cases")
    parser.add_argument("--data", default=str(REPOSITORY.parent / "shared" / "data"))
    parser.add_argument("--out", required=True, help="Markdown table (a new file)")
    args = parser.parse_args()
    if Path(args.out).exists():
        sys.exit(f"{args.out} exists: give a new file name")

    import numpy as np
    import SimpleITK as sitk

    from RadioWMHSegLib.image_io import read_flair, read_label
    from RadioWMHSegLib.metrics import compute_metrics
    from RadioWMHSegLib.segment import segment_image

    from RadioWMHSegLib.errors import RadioWMHSegError

    try:
        todo = cases(Path(args.data), args.synthetic)
    except RadioWMHSegError as error:  # e.g. --synthetic is not a dataset
        sys.exit(str(error))
    models = load_models(args.models, args.bundled)
    rows = []
    for name, flair, truth, stripped in todo:
        image = read_flair(flair)
        reference = sitk.Cast(read_label(truth) == 1, sitk.sitkUInt8)
        for model_name, loaded in models:
            result = segment_image(image, model=loaded, device="cpu", skull_stripped=stripped)
            metrics = compute_metrics(result.mask, reference)
            row = {"case": name, "model": model_name,
                   **{k: round(float(metrics[k]), 3) for k in ("dsc", "hd95", "lesion_f1", "sensitivity", "precision")}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = ["| case | model | DSC | HD95 (mm) | lesion F1 | sensitivity | precision |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['case']} | {row['model']} | {row['dsc']} | {row['hd95']} | {row['lesion_f1']} | "
                     f"{row['sensitivity']} | {row['precision']} |")
    for model_name, _ in models:
        synthetic = [r for r in rows if r["model"] == model_name and r["case"].startswith("synthetic_")]
        if synthetic:
            mean = lambda k: np.mean([r[k] for r in synthetic])
            lines.append(f"| synthetic mean ({len(synthetic)}) | {model_name} | {mean('dsc'):.3f} | "
                         f"{mean('hd95'):.1f} | {mean('lesion_f1'):.3f} | {mean('sensitivity'):.3f} | "
                         f"{mean('precision'):.3f} |")
    text = "\n".join(lines) + f"\n\nCommand: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
