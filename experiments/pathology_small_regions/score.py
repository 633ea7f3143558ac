"""Score the RULE.md candidates on the dumps (no network)."""
import sys, glob, json, os, numpy as np, SimpleITK as sitk
sys.path.insert(0, "/work/main")
from RadioWMHSegLib.segment import exclude_pathology_rim, PATHOLOGY_THRESHOLD
from RadioWMHSegLib.lesion_stats import remove_small_lesions
from RadioWMHSegLib.metrics import dice

def img(a, spacing):
    i = sitk.GetImageFromArray(a); i.SetSpacing(tuple(float(s) for s in spacing)); return i

def masks(wmh, path, spacing, M):
    pm = path >= PATHOLOGY_THRESHOLD
    small = np.zeros_like(pm)
    if M > 0 and pm.any():
        cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(img(pm.astype(np.uint8), spacing), True))
        ml = np.bincount(cc.ravel()) * float(np.prod(spacing)) / 1000.0
        ids = np.flatnonzero(ml < M); ids = ids[ids > 0]
        small = np.isin(cc, ids)
    keep_path = pm & ~small
    raw = (wmh >= 0.5) | (small & (wmh.astype(np.float32) + path >= 0.5))
    raw_i = img(raw.astype(np.uint8), spacing)
    out = exclude_pathology_rim(raw_i, img(path.astype(np.float32), spacing), img(keep_path.astype(np.uint8), spacing))
    out = remove_small_lesions(out, 10.0)
    return sitk.GetArrayFromImage(out) > 0, keep_path

Ms = [0, 0.5, 1, 2, 5, 10]
rows = []
for f in sorted(glob.glob(sys.argv[1] + "/*.npz")):
    d = np.load(f); sp = d["spacing"]; lab = d["label"]
    wmh = d["wmh"].astype(np.float32); path = d["path"].astype(np.float32)
    P = lab == 2; W = lab == 1
    for M in Ms:
        w, p = masks(wmh, path, sp, M)
        r = {"case": os.path.basename(f)[:-4], "M": M,
             "pathology_called_wmh": float((w & P).sum()) / max(int(P.sum()), 1) if P.any() else None,
             "wmh_called_pathology": float((p & W).sum()) / max(int(W.sum()), 1),
             "wmh_dice_outside": float(dice(w & ~P, W & ~P)) if (W & ~P).any() else None}
        rows.append(r)
    print(os.path.basename(f), [(r["M"], r["wmh_called_pathology"], r["pathology_called_wmh"], r["wmh_dice_outside"])
                                for r in rows[-len(Ms):]], flush=True)
json.dump(rows, open(sys.argv[2], "w"), indent=1)
