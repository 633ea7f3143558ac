"""Contrast (z units over normal-appearing WM, benchmarks/lesion_contrast.py) of what v18c and v19 call WMH on the
raw 1 mm scan beyond version 10, from their `radiowmhseg segment` masks: `python rim_contrast.py > rim_contrast.json`."""
import json
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from lesion_contrast import case_contrast, tissue_crop
from RadioWMHSegLib.image_io import read_flair, read_label
from RadioWMHSegLib.preprocessing.pipeline import preprocess
image = read_flair("/work/shared/data/clinical_flair_1mm/FLAIR.nii.gz")
p = preprocess(image, skull_stripped=False, device="cpu")
masks = {"v10": "/work/runs/v18c/look/bundled.nii.gz",  # radiowmhseg segment FLAIR -o OUT [--model M] --png PNG
         "v18c": "/work/runs/v18c/look/radiowmhseg-attention-vnet-v18c.nii.gz", "v19": "/work/runs/v19/look_1mm.nii.gz"}
crops = {k: (p.label_to_crop(read_label(v)) == 1).astype(np.uint8) for k, v in masks.items()}
wm, gm = tissue_crop("wm"), tissue_crop("gm")
out = {"v10 (all its WMH)": case_contrast(p.network_input, crops["v10"], p.brain_mask_crop, wm, gm)}
for k in ("v18c", "v19"):
    extra = (crops[k] & (1 - crops["v10"])).astype(np.uint8)
    out[f"{k} beyond v10"] = case_contrast(p.network_input, extra, p.brain_mask_crop, wm, gm)
print(json.dumps(out, indent=1))
