"""The rows of docs/model.md's version-11 table, read from a choose_model record and the val2 guard record (so that
no figure is copied by hand): `python table_rows.py CHOICE_JSON` (run records.py first; val2 from
docs/model_v11_attempt_val2_guard.json, matched by names.py)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from names import NAMES  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs"
val2 = json.loads((DOCS / "model_v11_attempt_val2_guard.json").read_text())["models"]
for key, m in json.loads(Path(sys.argv[1]).read_text())["models"].items():
    s, name = m["scores"], NAMES.get(m["model"] if key != "bundled" else "bundled", m["model"])
    v = val2.get(name)
    b = (f"{100 * v['wmh_called_pathology_mean']:.2f} % ({100 * v['wmh_called_pathology_highest_case']:.2f} %) | "
         f"{100 * v['pathology_called_wmh_mean']:.1f} % ({100 * v['pathology_called_wmh_highest_case']:.1f} %)"
         if v else "- | -")
    scans = " / ".join(f"{ml:.1f}" for ml in m["unlabelled_wmh_ml"].values())
    print(f"| {name} | {m['mean']:.4f} | {s['real_case_crop_dice (counted twice)']:.3f} / {s['real_raw_dice']:.3f} / "
          f"{s['real_raw_lesion_f1']:.3f} | {s['rad_severe_val_wmh_dice']:.3f} | {s['glioma_val_wmh_dice_outside']:.2f}"
          f" / {s['glioma_severe_val_wmh_dice_outside']:.2f} / {s['glioma_extreme_val_wmh_dice_outside']:.2f} | "
          f"{100 * (1 - s['glioma_val_1_minus_pathology_called_wmh']):.1f} / "
          f"{100 * (1 - s['glioma_severe_val_1_minus_pathology_called_wmh']):.1f} % | {b} | {scans} |")
