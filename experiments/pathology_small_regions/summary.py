"""The RULE.md table from scores.json: per validation set and minimum region size M, the means the rule reads."""
import json
import sys
from pathlib import Path

import numpy as np

rows = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("scores.json")).read_text())
GLIOMA_SETS = ("glioma_val", "glioma_severe_val", "glioma_extreme_val", "glioma_severe_val2")
print("| M (mL) | " + " | ".join(f"{s}: tumour called WMH" for s in GLIOMA_SETS)
      + " | WMH Dice outside the tumour, all cases | glioma_severe_val2: WMH called tumour |")
print("|---" * (len(GLIOMA_SETS) + 3) + "|")
for m in sorted({r["M"] for r in rows}):
    chosen = [r for r in rows if r["M"] == m]
    called = [100 * np.mean([r["pathology_called_wmh"] for r in chosen if r["case"].startswith(s + "__")])
              for s in GLIOMA_SETS]
    dice = np.mean([r["wmh_dice_outside"] for r in chosen if r["wmh_dice_outside"] is not None])
    val2 = 100 * np.mean([r["wmh_called_pathology"] for r in chosen if r["case"].startswith("glioma_severe_val2__")])
    print(f"| {m} | " + " | ".join(f"{c:.2f} %" for c in called) + f" | {dice:.4f} | {val2:.2f} % |")
