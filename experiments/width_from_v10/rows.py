"""The rows of RULE.md's outcome tables, read from the records (no figure copied by hand):
`python experiments/width_from_v10/rows.py [MEASURE_DIR]` (default: this folder, where the records are kept)."""
import json
import sys
from pathlib import Path

here = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent)
NAMES = {"bundled": "version 10 (bundled)", "radiowmhseg-attention-vnet-c-last": "C last (shipped width)",
         "radiowmhseg-attention-vnet-w-last": "W last (2x, widened)",
         "radiowmhseg-attention-vnet-f-last": "F last (2x, new half fresh)"}
choice = json.loads((here / "choice.json").read_text())


def guards(key):
    """What choose_model's guards said of this model."""
    said = [f"real-scan guard ({len(choice['refused_by_real_scan_guard'][key])} scans)"] \
        if key in choice["refused_by_real_scan_guard"] else []
    said += ["tumour guard"] if key in choice["refused_by_tumour_guard"] else []
    return ", ".join(said) or "pass"


for key, m in choice["models"].items():
    folder = Path(m["model"]).name if key != "bundled" else "bundled"
    s = m["scores"]
    val2 = here / f"val2_{folder}.json"
    if val2.exists():
        v = next(iter(json.loads(val2.read_text())["results"].values()))
        worst = max(c["wmh_called_pathology"] for c in v["cases"])
        b = f"{100 * v['mean']['wmh_called_pathology']:.2f} % ({100 * worst:.2f} %) | " \
            f"{100 * v['mean']['pathology_called_wmh']:.1f} %"
    else:
        b = "- | -"
    scans = " / ".join(f"{ml:.1f}" for ml in m["unlabelled_wmh_ml"].values())
    print(f"| {NAMES.get(folder, folder)} | {m['mean']:.4f} | {s['real_case_crop_dice (counted twice)']:.3f} / "
          f"{s['real_raw_dice']:.3f} / {s['real_raw_lesion_f1']:.3f} | {s['rad_severe_val_wmh_dice']:.3f} | "
          f"{s['glioma_val_wmh_dice_outside']:.2f} / {s['glioma_severe_val_wmh_dice_outside']:.2f} / "
          f"{s['glioma_extreme_val_wmh_dice_outside']:.2f} | {b} | {scans} | {guards(key)} |")
