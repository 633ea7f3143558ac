"""The panel's "Rank a folder": the uncertainty ranking as a table node, and "Load next case" (no Qt).

A results folder (stats JSONs with uncertainty scores, ranking.py) is read at once; a folder of
FLAIRs is first segmented with uncertainty by a background job (`radiowmhseg rank`) into the sibling
folder `<folder>_radiowmhseg_results`. "Load next case" opens the most uncertain case that no volume
of the scene was loaded from yet (volumes carry RANKED_CASE_ATTRIBUTE), with its mask as the model's
original prediction, its uncertainty map and, for a 3-class model, its other-pathology segment.
"""

import json
from pathlib import Path

import SimpleITK as sitk
import vtk

from . import ranking
from .choices import DEFAULT_UNCERTAINTY_SCORE
from .errors import InputError
from .slicer_geometry import sitk_to_volume_node

RANKED_CASE_ATTRIBUTE = "RadioWMHSeg.RankedCase"  # on a volume opened from a ranking: <results folder>/<case>
RANKING_FOLDER_ATTRIBUTE = "RadioWMHSeg.RankingFolder"  # on the ranking table: the results folder it shows
RANKING_TABLE_NAME = "RadioWMHSeg uncertainty ranking"
RESULTS_SUFFIX = "_radiowmhseg_results"


def results_folder_for(folder) -> Path:
    """Where a folder of FLAIRs is segmented for ranking: the folder itself when it holds results already."""
    folder = Path(folder)
    return folder if ranking.is_results_folder(folder) else folder.parent / (folder.name + RESULTS_SUFFIX)


def rank_folder(folder, scene, jobs, options, show):
    """Show the ranking of a folder: show(table node) now for a results folder, else after a background rank job."""
    if not folder or not Path(folder).is_dir():
        raise InputError(f"'{folder}' is not a folder: pick a folder of FLAIRs or of segmentation results")
    results = results_folder_for(folder)
    if results == Path(folder):
        return show(ranking_table(results, scene))
    jobs.start_rank([Path(folder).resolve()], results.resolve(), options,
                    on_success=lambda: show(ranking_table(results, scene)))
    return None


def _key(results, case) -> str:
    return str(Path(results).resolve() / case)


def opened_cases(scene) -> set:
    nodes = scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    return {nodes.GetItemAsObject(i).GetAttribute(RANKED_CASE_ATTRIBUTE) for i in range(nodes.GetNumberOfItems())} - {None}


def ranking_table(results, scene, by=DEFAULT_UNCERTAINTY_SCORE):
    """The ranking of a results folder in the scene's one ranking table node (made or refilled)."""
    rows = ranking.rank_results(results, by)
    table = scene.GetFirstNodeByName(RANKING_TABLE_NAME) or scene.AddNewNodeByClass("vtkMRMLTableNode",
                                                                                   RANKING_TABLE_NAME)
    table.SetAttribute(RANKING_FOLDER_ATTRIBUTE, str(Path(results).resolve()))
    table.RemoveAllColumns()
    opened = opened_cases(scene)
    columns = (("Rank", "rank", ".0f"), ("Case", "case", None), ("Uncertain (mL)", "uncertain_volume_ml", ".2f"),
               ("Uncertain fraction", "uncertain_fraction", ".3f"), ("Mean in WMH", "mean_in_wmh", ".3f"),
               ("WMH (mL)", "wmh_volume_ml", ".2f"), ("Opened", None, None), ("Note", "note", None))
    for title, key, spec in columns:
        array = vtk.vtkStringArray()
        array.SetName(title)
        for row in rows:
            if key is None:
                value = "yes" if _key(results, row["case"]) in opened else ""
            else:
                value = row.get(key)
                value = "" if value is None else (format(value, spec) if spec else str(value))
            array.InsertNextValue(value)
        table.AddColumn(array)
    table.Modified()
    return table


def next_case(results, scene):
    """The most uncertain ranked case not opened in this scene yet (a ranking row), or None."""
    opened = opened_cases(scene)
    for row in ranking.rank_results(results):
        if row.get("rank") and _key(results, row["case"]) not in opened:
            return row
    return None


def load_ranked_case(logic, results, row, scene):
    """Open one ranked case: (volume node, segmentation node with the model's mask as original prediction)."""
    from .image_io import read_flair

    source = Path(row.get("input") or "")
    if not row.get("input") or not source.exists():
        raise InputError(f"the FLAIR of case {row['case']} ({source}) is not found: run the ranking again where "
                         "the FLAIRs are")
    if not row.get("mask"):
        raise InputError(f"case {row['case']} has no mask in {results}: run the ranking again to segment it")
    volume = sitk_to_volume_node(read_flair(source), scene, scene.GenerateUniqueName(row["case"]))
    volume.CreateDefaultDisplayNodes()
    volume.SetAttribute(RANKED_CASE_ATTRIBUTE, _key(results, row["case"]))
    document = json.loads((Path(results) / f"{row['case']}{ranking.STATS_SUFFIX}").read_text(encoding="utf-8"))
    stats = {k: document[k] for k in ("total_volume_ml", "count", "min_lesion_mm3", "lesions", "uncertainty")
             if k in document}
    images = {k: sitk.ReadImage(row[k]) if row.get(k) else None for k in ("mask", "uncertainty_map", "pathology_mask")}
    processing = document.get("processing") or {}
    segmentation = logic.loadResult(volume, images["mask"], stats=stats, modelInfo=processing.get("model"),
                                    parameters=document.get("settings") or {}, quality=processing.get("quality"),
                                    uncertainty=images["uncertainty_map"], pathology=images["pathology_mask"])
    return volume, segmentation


def load_next_case(logic, table, scene):
    """Open the most uncertain case of the ranking table's folder not opened yet, and mark it in the table."""
    results = table.GetAttribute(RANKING_FOLDER_ATTRIBUTE) if table is not None else None
    if not results:
        raise InputError("no ranking is shown: rank a folder first")
    row = next_case(results, scene)
    if row is None:
        raise InputError(f"every ranked case of {results} is open already: rank another folder")
    opened = load_ranked_case(logic, results, row, scene)
    ranking_table(results, scene)
    return opened
