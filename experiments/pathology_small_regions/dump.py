"""Dump v9's P(WMH), P(pathology) on the input grid + truth for validation cases, to explore post-processing rules."""
import sys, numpy as np, SimpleITK as sitk
sys.path.insert(0, "/work/main")
from RadioWMHSegLib import model_io
from RadioWMHSegLib.datasets import load_dataset
from RadioWMHSegLib.image_io import read_flair, read_label
from RadioWMHSegLib.preprocessing.pipeline import preprocess
from RadioWMHSegLib.inference import predict
from RadioWMHSegLib.segment import on_input_grid
import torch
model = sys.argv[1]; out = sys.argv[2]; sets = sys.argv[3:]
loaded = model_io.load_model(model, "cpu")
dev = torch.device("cpu")
import os; os.makedirs(out, exist_ok=True)
for ds in sets:
    for case in load_dataset(ds).cases:
        name = f"{os.path.basename(ds)}__{case.name}"
        if os.path.exists(f"{out}/{name}.npz"): continue
        img = read_flair(case.image_path)
        c = preprocess(img, skull_stripped=True, device=dev)
        p = predict(loaded.net, c.network_input, dev, tta=True, precision="bf16")
        wmh = sitk.GetArrayFromImage(on_input_grid(c, p.wmh))
        path = sitk.GetArrayFromImage(on_input_grid(c, p.pathology))
        lab = sitk.GetArrayFromImage(read_label(case.label_path))
        np.savez_compressed(f"{out}/{name}.npz", wmh=wmh.astype(np.float16), path=path.astype(np.float16),
                            label=lab.astype(np.uint8), spacing=np.array(img.GetSpacing()))
        print(name, flush=True)
