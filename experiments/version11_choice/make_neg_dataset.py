"""runs/sim_vent_neg_ds for v19 (RULE.md, third step): runs/sim_vent_pv_ds with the periventricular bands (label 3)
made background, in the label files and in the training caches (label arrays mapped, not recomputed: the raw scans'
brain extraction and registration take minutes each; the record's file stamps follow the new files)."""
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from RadioWMHSegLib.dataset_building import voxel_sha256  # noqa: E402

src, dst = Path("/work/runs/sim_vent_pv_ds"), Path("/work/runs/sim_vent_neg_ds")
shutil.copytree(src, dst)
dataset = json.loads((dst / "dataset.json").read_text())
dataset["name"] = "sim_vent_neg_ds"
dataset["description"] = ("sim_vent_pv_ds with the periventricular bands (label 3) as background "
                          "(experiments/version11_choice)")
record = json.loads((dst / "preprocessed" / "record.json").read_text())
for case in dataset["training"]:
    label_path = dst / case["label"]
    image = sitk.ReadImage(str(label_path))
    array = sitk.GetArrayFromImage(image)
    array[array == 3] = 0
    mapped = sitk.GetImageFromArray(array)
    mapped.CopyInformation(image)
    sitk.WriteImage(mapped, str(label_path), True)
    case["label_voxels_sha256"] = voxel_sha256(mapped)
    entry = record["cases"][case["case"]]
    cache = dst / "preprocessed" / entry["file"]
    with np.load(cache) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["label"] = np.where(arrays["label"] == 3, 0, arrays["label"]).astype(arrays["label"].dtype)
    with open(cache, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    for key, path in (("image", dst / case["image"]), ("label", label_path)):
        stat = os.stat(path)
        entry["sources"][key] = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    print(case["case"], "label 3 left:", int((array == 3).sum()),
          "WMH voxels in cache:", int((arrays["label"] == 1).sum()))
(dst / "dataset.json").write_text(json.dumps(dataset, indent=1))
(dst / "preprocessed" / "record.json").write_text(json.dumps(record))
