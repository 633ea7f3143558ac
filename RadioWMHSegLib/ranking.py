"""Cases ordered by the model's uncertainty, most uncertain first: which case an annotator corrects next.

A results folder is what `radiowmhseg segment FOLDER -o RESULTS --uncertainty` writes: per case
`<case>_stats.json` holding the uncertainty score (uncertainty.py), the mask and the uncertainty
map. `rank_results` reads such a folder; `rank_cohort` first segments a folder of FLAIRs into one
(cohort.segment_cohort with the uncertainty maps; finished cases are skipped on a rerun).
Cases without a score (segmented without --uncertainty, unreadable, failed) come last, unranked.
"""

import csv
import io
import json
from pathlib import Path

from . import safe_write
from .choices import DEFAULT_UNCERTAINTY_SCORE as DEFAULT_SCORE
from .choices import UNCERTAINTY_SCORES as SCORES
from .cohort import cohort_outputs
from .errors import InputError

STATS_SUFFIX = "_stats.json"
RANKING_CSV = "uncertainty_ranking.csv"
COLUMNS = ["rank", "case", *SCORES, "wmh_volume_ml", "input", "mask", "uncertainty_map", "pathology_mask", "note"]


def is_results_folder(folder) -> bool:
    """True when the folder holds stats JSONs of a segmentation run (rather than FLAIRs to segment)."""
    folder = Path(folder)
    return folder.is_dir() and any(p.name.endswith(STATS_SUFFIX) for p in folder.iterdir())


def _row(stats_path: Path) -> dict:
    folder, case = stats_path.parent, stats_path.name[: -len(STATS_SUFFIX)]
    outputs = cohort_outputs(folder, case)
    row = {"case": case, "rank": None, "note": ""}
    for key, role in (("mask", "output_mask"), ("uncertainty_map", "uncertainty"), ("pathology_mask", "pathology_mask")):
        row[key] = str(outputs[role]) if outputs[role].exists() else ""
    try:
        document = json.loads(stats_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {**row, "note": f"{stats_path.name} cannot be read: segment the case again"}
    if not isinstance(document, dict):
        return {**row, "note": f"{stats_path.name} is not a stats file of RadioWMHSeg"}
    row.update(input=document.get("input", ""), wmh_volume_ml=document.get("total_volume_ml"))
    score = document.get("uncertainty")
    if not isinstance(score, dict) or any(not isinstance(score.get(k), (int, float)) for k in SCORES):
        return {**row, "note": "no uncertainty score: segmented without --uncertainty"}
    return {**row, **{k: float(score[k]) for k in SCORES}}


def rank_rows(rows, by=DEFAULT_SCORE) -> list:
    """Scored rows by `by`, largest first (ties: the other scores, then the name), then the unscored."""
    if by not in SCORES:
        raise InputError(f"unknown uncertainty score '{by}': choose one of {', '.join(SCORES)}")
    order = [by] + [k for k in SCORES if k != by]
    scored = sorted((r for r in rows if r.get(by) is not None), key=lambda r: ([-r[k] for k in order], r["case"]))
    unscored = sorted((r for r in rows if r.get(by) is None), key=lambda r: r["case"])
    return [{**r, "rank": i + 1} for i, r in enumerate(scored)] + [{**r, "rank": None} for r in unscored]


def rank_results(folder, by=DEFAULT_SCORE) -> list:
    """The ranking of a results folder (one row per `<case>_stats.json`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder: give the folder of a segmentation run (or of FLAIRs to segment)")
    if not is_results_folder(folder):
        raise InputError(f"{folder} holds no {'<case>' + STATS_SUFFIX} files: give the folder that "
                         "`radiowmhseg segment ... --uncertainty` wrote, or segment the FLAIRs first")
    return rank_rows([_row(p) for p in sorted(folder.glob("*" + STATS_SUFFIX))], by)


def rank_cohort(inputs, results_dir, by=DEFAULT_SCORE, **segment_options) -> tuple:
    """Segment the FLAIRs (with uncertainty) into results_dir, then rank it: (ranking, cohort rows).

    Cases of this run that failed or were refused are added, unranked, with the reason.
    """
    from .cohort import segment_cohort

    if by not in SCORES:
        raise InputError(f"unknown uncertainty score '{by}': choose one of {', '.join(SCORES)}")
    cohort_rows = segment_cohort(inputs, results_dir, write_uncertainty=True, **segment_options)
    ranking = rank_results(results_dir, by) if is_results_folder(results_dir) else []
    by_case = {r["case"]: r for r in ranking}
    for row in cohort_rows:
        if row["status"] in ("failed", "refused"):
            note = f"{row['status']}: {row['message']}"
            if row["case"] in by_case:
                by_case[row["case"]]["note"] = note
            else:
                ranking.append({"case": row["case"], "rank": None, "input": row["input"], "note": note})
    return ranking, cohort_rows


def ranking_csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS} for row in rows)
    return buffer.getvalue()


def write_ranking(rows, path, overwrite=False) -> Path:
    return safe_write.atomic_write_text(path, ranking_csv(rows), overwrite=overwrite)


def format_table(rows, by=DEFAULT_SCORE) -> str:
    """The ranking as a text table: rank, case, the three scores, WMH volume, and any note."""
    lines = [f"{'rank':>4}  {'case':<24} {'uncertain mL':>12} {'fraction':>8} {'mean in WMH':>11} {'WMH mL':>8}  note"]
    for row in rows:
        def shown(key, spec, width):
            return format(format(row[key], spec) if row.get(key) is not None else "-", f">{width}")
        lines.append(f"{row.get('rank') or '-':>4}  {row['case'][:24]:<24} {shown('uncertain_volume_ml', '.2f', 12)} "
                     f"{shown('uncertain_fraction', '.1%', 8)} {shown('mean_in_wmh', '.3f', 11)} "
                     f"{shown('wmh_volume_ml', '.2f', 8)}  {row.get('note', '')}".rstrip())
    lines.append(f"(ranked by {by}, most uncertain first; unranked cases last)")
    return "\n".join(lines)
