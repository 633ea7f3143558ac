"""RULE.md's reading (1): each run's mean training loss over its epochs 6-8, from its training log.
`python experiments/width_from_v10/last_losses.py` (the logs kept in this folder: c, w and f)."""
import csv
from pathlib import Path

here = Path(__file__).resolve().parent
for run in "cwf":
    rows = list(csv.DictReader((here / f"{run}_training_log.csv").open()))
    losses = [float(r["loss"]) for r in rows if 6 <= int(r["epoch"]) <= 8]
    print(f"{run.upper()}: epochs 6-8 {', '.join(f'{x:.4f}' for x in losses)}, mean {sum(losses) / len(losses):.4f}")
