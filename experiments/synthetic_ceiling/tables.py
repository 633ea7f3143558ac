"""The README's tables from ceiling.py's records.

    python experiments/synthetic_ceiling/tables.py RECORD.json [RECORD.json ...]

Per case: the oracle's best Dice (any voxel-wise rule on the noise-free WMH brightening, as it is or smoothed,
knowing the truth), the model's Dice, and the model's sensitivity by distance from the lateral ventricles; then the
means per dataset.
With several records (one model each, the same cases), a last table sets the models' rim sensitivities side by side.
"""

import json
import sys
from collections import defaultdict

import numpy as np


def _cell(value, digits=2):
    return "" if value is None else f"{value:.{digits}f}"


def oracle_best(oracle: dict) -> float:
    """The oracle's best Dice: on R as it is or smoothed, whichever is higher."""
    return max([oracle["best_voxelwise"], *oracle.get("best_voxelwise_smoothed", {}).values()])


def case_table(document: dict) -> list:
    lines = [f"Model: `{document['model']}`", "",
             "| dataset / case | WMH mL | WMH x WM | slices mm | oracle Dice | model Dice | sens. | prec. | "
             "sens. 0-3 / 3-6 / 6-10 / >10 mm from ventricles | label share there | model Dice, >3 mm / >6 mm | "
             "oracle, >3 mm / >6 mm |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for case in document["cases"]:
        model, oracle = case["model"], case["oracle"]
        zones = model["by_ventricle_distance"]
        thick = (case["acquisition"].get("thick_slices") or {}).get("thickness_mm", 1)
        lines.append(
            f"| {case['dataset']} {case['case'][-3:]} | {case['wmh_ml']:.1f} | {case['wmh_contrast']:.2f} | {thick} | "
            f"{oracle_best(oracle):.3f} | {model['dsc']:.3f} | {model['sensitivity']:.2f} | "
            f"{model['precision']:.2f} | {' / '.join(_cell(z['sensitivity']) for z in zones)} | "
            f"{' / '.join(_cell(z['label_share']) for z in zones)} | "
            f"{model['dsc_beyond_mm']['3.0']:.3f} / {model['dsc_beyond_mm']['6.0']:.3f} | "
            f"{oracle['best_voxelwise_beyond_mm']['3.0']:.3f} / {oracle['best_voxelwise_beyond_mm']['6.0']:.3f} |")
    return lines


def mean_table(document: dict) -> list:
    groups = defaultdict(list)
    for case in document["cases"]:
        if case["wmh_ml"] > 0:  # a case without WMH has no Dice to speak of (the oracle's is 1 by definition)
            groups[case["dataset"]].append(case)
    lines = ["| dataset (cases) | oracle Dice | oracle at one level for all | model Dice | model Dice >3 mm | "
             "model HD95 mm | oracle HD95 mm | model lesion F1 | oracle lesion F1 | model sens. 0-3 / 3-6 / "
             "6-10 / >10 mm |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, cases in groups.items():
        def mean(get):
            values = [get(c) for c in cases]
            values = [v for v in values if v is not None and np.isfinite(v)]
            return float(np.mean(values)) if values else None
        zones = " / ".join(_cell(mean(lambda c, i=i: c["model"]["by_ventricle_distance"][i]["sensitivity"]))
                           for i in range(4))
        lines.append(
            f"| {name} ({len(cases)}) | {mean(lambda c: oracle_best(c['oracle'])):.3f} | "
            f"{mean(lambda c: c['oracle_at_best_level']['dsc']):.3f} | {mean(lambda c: c['model']['dsc']):.3f} | "
            f"{mean(lambda c: c['model']['dsc_beyond_mm']['3.0']):.3f} | {mean(lambda c: c['model']['hd95']):.1f} | "
            f"{mean(lambda c: c['oracle_at_best_level']['hd95']):.1f} | "
            f"{mean(lambda c: c['model']['lesion_f1']):.3f} | "
            f"{mean(lambda c: c['oracle_at_best_level']['lesion_f1']):.3f} | {zones} |")
    lines += ["", "Means over the cases with WMH. "
              f"The oracle at one level: R > {document['best_level']} for every case (the level with the best "
              "mean Dice over all cases of the record)."]
    return lines


def models_table(documents: list) -> list:
    lines = ["| model | cases | model Dice | sens. 0-3 / 3-6 / 6-10 / >10 mm from ventricles | precision |",
             "|---|---|---|---|---|"]
    # The cases every record holds, so that the models are compared on the same ones.
    common = set.intersection(*({(c["dataset"], c["case"]) for c in d["cases"]} for d in documents))
    for document in documents:
        cases = [c for c in document["cases"] if c["wmh_ml"] > 0 and (c["dataset"], c["case"]) in common]
        zones = " / ".join(_cell(float(np.mean([c["model"]["by_ventricle_distance"][i]["sensitivity"] for c in cases
                                                if c["model"]["by_ventricle_distance"][i]["sensitivity"] is not None])))
                           for i in range(4))
        names = sorted({c["dataset"] for c in cases})
        lines.append(f"| `{document['model']}` | {len(cases)} ({', '.join(names)}) | "
                     f"{np.mean([c['model']['dsc'] for c in cases]):.3f} | {zones} | "
                     f"{np.mean([c['model']['precision'] for c in cases]):.3f} |")
    return lines


def main():
    documents = [json.load(open(path)) for path in sys.argv[1:]]
    if not documents:
        sys.exit(__doc__)
    for document in documents:
        print("\n".join(case_table(document) + [""] + mean_table(document)) + "\n")
    if len(documents) > 1:
        print("\n".join(models_table(documents)))


if __name__ == "__main__":
    main()
