"""Per synthetic case: the model's DSC, sensitivity and precision (from a compare_models.py table) beside what the
generator recorded about the case (WMH severity and brightness, grey matter, hard negatives, bias field, slices).

    python experiments/synthetic_fit/case_factors.py DATASET COMPARISON.md

Brightness is relative to the case's white matter (1.0), as the generator writes it in dataset.json.
"""
import json
import re
import sys
from pathlib import Path

dataset, comparison = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
print("| case | DSC | sensitivity | precision | severity | WMH | grey matter | hard negatives (level, mL) "
      "| bias log-std | thick slices (mm) |")
print("|---" * 10 + "|")
for case in json.loads((dataset / "dataset.json").read_text())["training"]:
    row = re.search(rf"\| synthetic_{case['case']} \| [^|]+ \| ([0-9.]+) \|[^|]+\|[^|]+\| ([0-9.]+) \| ([0-9.]+) \|",
                    comparison)
    scores = row.groups() if row else ("", "", "")
    negatives = ", ".join(f"{name} ({values.get('level')}, {values.get('voxels', 0) / 1000:.1f})"
                          for name, values in case.get("hard_negatives", {}).items())
    slices = (case["acquisition"].get("thick_slices") or {}).get("thickness_mm", "")
    print(f"| {case['case']} | {' | '.join(scores)} | {case['lesions']['severity']:.2f} | "
          f"{case['contrast']['wmh']:.2f} | {case['contrast']['gm']:.2f} | {negatives} | "
          f"{case['acquisition']['bias_field_log_std']:.2f} | {slices} |")
