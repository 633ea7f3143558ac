"""Gather every step's glioma_severe_val2 runs (choose.sh, measure.sh) into one record in docs/ (the layout of
docs/model_v10_val2_guard.json) and copy each step's choose_model record there: `python records.py`."""
import json
import shutil
import statistics
from pathlib import Path

from names import NAMES

RUNS = Path("/work/runs/v18c")
V19 = Path("/work/runs/v19/choice")
V20 = Path("/work/runs/v20/choice")
V21 = Path("/work/runs/v21/choice")  # the fifth step: v20 measured again beside v21
V22 = Path("/work/runs/v22/choice")
SOUP = Path("/work/runs/v22/choice_soup")  # the seventh step
V23 = Path("/work/runs/v23/choice")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def summary(path):
    record = json.loads(path.read_text())
    cases = next(iter(record["results"].values()))["cases"]
    keys = [k for k in cases[0] if k != "case"]
    return {"wmh_called_pathology_mean": round(statistics.mean(c["wmh_called_pathology"] for c in cases), 4),
            "wmh_called_pathology_highest_case": max(c["wmh_called_pathology"] for c in cases),
            "pathology_called_wmh_mean": round(statistics.mean(c["pathology_called_wmh"] for c in cases), 4),
            "pathology_called_wmh_highest_case": max(c["pathology_called_wmh"] for c in cases),
            "mean": {k: round(statistics.mean(c[k] for c in cases), 4) for k in keys},
            "cases": cases, "command": record["command"]}


models = {}
for folder in (RUNS / "choice", RUNS / "choice_wise", V19, V20, V21, V22, SOUP, V23):
    for path in sorted(folder.glob("val2_*.json")):
        models[NAMES[path.stem[len("val2_"):]]] = summary(path)
what = ("benchmarks/glioma_specificity.py runs/glioma_severe_val2 --model MODEL --tta -o OUT, one run per model "
        "(experiments/version11_choice/choose.sh, choose_wise.sh, choose_v19/v20/v21.sh, measure.sh); measure B of "
        "experiments/version11_choice/RULE.md")
(DOCS / "model_v11_attempt_val2_guard.json").write_text(json.dumps({"what": what, "models": models}, indent=1) + "\n")
shutil.copy(RUNS / "choice" / "choice.json", DOCS / "model_v11_attempt_validation.json")
for source, name in ((RUNS / "choice_wise", "wise"), (V19, "v19"), (V20, "v20"), (V21, "v21"), (V22, "v22"), (SOUP, "soup"), (V23, "v23")):
    if (source / "choice.json").exists():
        shutil.copy(source / "choice.json", DOCS / f"model_v11_attempt_{name}_validation.json")
for name, m in models.items():
    print(f"{name}: WMH called tumour {100 * m['wmh_called_pathology_mean']:.2f} % "
          f"(worst {100 * m['wmh_called_pathology_highest_case']:.2f} %), tumour called WMH "
          f"{100 * m['pathology_called_wmh_mean']:.2f} % (worst {100 * m['pathology_called_wmh_highest_case']:.1f} %), "
          f"WMH Dice beside {m['mean']['wmh_dice_outside']:.3f}")
