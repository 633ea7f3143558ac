"""runs/<source>_bright for v20 (RULE.md, fourth step): each synthetic source dataset with its faint WMH unscored.
A WMH lesion (connected component of label 1) whose median lies less than FAINT above its case's normal white
matter (benchmarks/lesion_contrast.py's measure on the training cache) becomes label 3 in the cache. imagesTr and
labelsTr are links to the source's folders, so the cache record's file stamps still match and nothing is redone.
`python make_bright_sources.py [FAINT SUFFIX]`: 1.0 and _bright by default (v20-v22); 0.5 _faint05 for v23."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lesion_contrast import WM_PROBABILITY, tissue_crop  # noqa: E402

FAINT = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
SUFFIX = sys.argv[2] if len(sys.argv) > 2 else "_bright"
SOURCES = ["glioma_train", "glioma_severe_train", "glioma_more_train", "glioma_extreme_train", "rad_v3_train",
           "rad_severe_train"]
white_matter = tissue_crop("wm")
for name in SOURCES:
    src, dst = Path("/work/runs") / name, Path("/work/runs") / f"{name}{SUFFIX}"
    dst.mkdir()
    for folder in ("imagesTr", "labelsTr"):
        (dst / folder).symlink_to(src / folder)
    dataset = json.loads((src / "dataset.json").read_text())
    dataset["name"] = f"{name}{SUFFIX}"
    dataset.setdefault("labels", {})["unscored"] = 3
    (dst / "dataset.json").write_text(json.dumps(dataset, indent=1))
    shutil.copytree(src / "preprocessed", dst / "preprocessed")
    record = json.loads((dst / "preprocessed" / "record.json").read_text())
    made, kept = 0, 0
    for case, entry in record["cases"].items():
        path = dst / "preprocessed" / entry["file"]
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        image, label, brain = arrays["image"].astype(np.float32), arrays["label"].copy(), arrays["brain_mask"]
        near = ndimage.binary_dilation(label == 1, iterations=2) | ndimage.binary_dilation(label == 2, iterations=2)
        nawm = (white_matter >= WM_PROBABILITY) & (brain > 0) & ~near
        if not nawm.any() or not (label == 1).any():
            continue
        level = float(np.median(image[nawm]))
        components, count = ndimage.label(label == 1)
        medians = ndimage.median(image, components, index=np.arange(1, count + 1))
        faint = np.flatnonzero(np.asarray(medians) - level < FAINT) + 1
        label[np.isin(components, faint)] = 3
        made, kept = made + len(faint), kept + count - len(faint)
        arrays["label"] = label
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    print(f"{name}: {made} faint lesions unscored, {kept} kept", flush=True)
