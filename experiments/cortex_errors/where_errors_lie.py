"""Where version 10's wrong WMH lies: in the cortex (MNI grey-matter probability) or in the white matter?

    python experiments/cortex_errors/where_errors_lie.py OUT.json [--runs /work/runs]

A diagnosis, nothing chosen: if the false WMH sits in the cortex and the true WMH does not, a cortex prior is
worth a rule of its own. Cases: the five raw sim_vent scans (truth: lesions and bands; four were trained on,
105911 held out) and the synthetic validation sets glioma_val and rad_severe_val (label 1). Not the dev case
(a test case). Per case, version 10's mask from the whole pipeline (default flips, threshold, minimum size) is
split into true and false WMH and each lesion of the mask into true (touching the truth) or false (not); the
MNI152 2009 grey-matter probability is carried to the case's grid by the pipeline's own transform.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import SimpleITK as sitk

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))
from RadioWMHSegLib import templates  # noqa: E402
from RadioWMHSegLib.image_io import read_flair  # noqa: E402
from RadioWMHSegLib.model_io import load_model  # noqa: E402
from RadioWMHSegLib.preprocessing import preprocess  # noqa: E402
from RadioWMHSegLib.segment import segment_preprocessed  # noqa: E402

CORTEX = 0.5  # grey-matter probability at and above which a voxel counts as cortex here


def cases(runs: Path, data: Path):
    for folder in sorted((data / "sim_vent_wmh").glob("case_*")):
        yield f"sim_vent_{folder.name[5:]}", folder / "FLAIR.nii.gz", folder / "WMH.nii.gz", False
    for name in ("glioma_val", "rad_severe_val"):
        dataset = json.loads((runs / name / "dataset.json").read_text())
        for entry in dataset["training"]:
            yield f"{name}/{entry['case']}", runs / name / entry["image"], runs / name / entry["label"], True


def measure(name, flair, truth_path, synthetic, loaded):
    image = read_flair(str(flair))
    case = preprocess(image, skull_stripped=synthetic)  # synthetic: stripped, registered as a user would
    result = segment_preprocessed(case, loaded, torch.device("cpu"), precision="fp32", tta=True)
    gm_crop = sitk.GetArrayFromImage(templates.to_crop_grid(templates.mni_tissue("gm")))
    gm = sitk.GetArrayFromImage(case.to_native(gm_crop.astype(np.float32)))
    found = sitk.GetArrayFromImage(result.mask) > 0
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(truth_path))) == 1
    voxel_ml = float(np.prod(result.mask.GetSpacing())) / 1000
    row = {"case": name}
    for part, where in (("true", found & truth), ("false", found & ~truth), ("missed", truth & ~found)):
        row[f"{part}_ml"] = round(float(where.sum()) * voxel_ml, 2)
        row[f"{part}_in_cortex_ml"] = round(float((where & (gm >= CORTEX)).sum()) * voxel_ml, 2)
        row[f"{part}_mean_gm"] = round(float(gm[where].mean()), 3) if where.any() else None
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(result.mask))
    lesions = {"true": [], "false": []}
    for index in range(1, int(labels.max()) + 1):
        lesion = labels == index
        lesions["true" if (lesion & truth).any() else "false"].append(float(gm[lesion].mean()))
    for kind, values in lesions.items():
        row[f"{kind}_lesions"] = len(values)
        row[f"{kind}_lesions_mostly_cortex"] = int(sum(v >= CORTEX for v in values))
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--runs", default="/work/runs")
    parser.add_argument("--data", default=str(REPOSITORY.parent / "shared" / "data"))
    args = parser.parse_args()
    loaded = load_model()
    rows = [measure(*case, loaded) for case in cases(Path(args.runs), Path(args.data))]
    record = {"model": loaded.card.get("name"), "version": loaded.card.get("version"), "cortex_gm_probability": CORTEX,
              "cases": rows,
              "command": "python experiments/cortex_errors/where_errors_lie.py " + " ".join(sys.argv[1:])}
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
