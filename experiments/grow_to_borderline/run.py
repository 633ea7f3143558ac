"""Hysteresis growth of the WMH mask (RULE.md), applied inside the benchmarks to the models named for it.

    python experiments/grow_to_borderline/run.py make OUT_DIR               # OUT_DIR/G30, OUT_DIR/G20
    python experiments/grow_to_borderline/run.py choose_model ARGS...       # benchmarks/choose_model.py, patched
    python experiments/grow_to_borderline/run.py glioma_specificity ARGS... # benchmarks/glioma_specificity.py

A candidate is a copy of the bundled model folder whose card name ends in -grow30 or -grow20; the patched
segment_preprocessed reads the name of the model it is given, so the bundled model in the same run keeps
today's post-processing. Experiment scaffolding: the library is not changed unless the rule is met.
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
from RadioWMHSegLib import segment  # noqa: E402  (after the path)

LOW_BY_SUFFIX = {"-grow30": 0.3, "-grow20": 0.2}
current = {"low": None}  # the growth of the model segment_preprocessed was last given


def grown(probability, threshold, low):
    """uint8 mask: the components of P >= low (26-connected) that hold a voxel of P >= threshold."""
    components = sitk.GetArrayFromImage(sitk.ConnectedComponent(probability >= low, True))
    seeds = sitk.GetArrayFromImage(probability) >= threshold
    kept = np.unique(components[seeds])
    mask = sitk.GetImageFromArray(np.isin(components, kept[kept > 0]).astype(np.uint8))
    mask.CopyInformation(probability)
    return mask


def masks_with_growth(probability, pathology_probability, threshold, min_lesion_mm3, **rim):
    """segment.masks_from_probabilities with the threshold replaced by the growth for the grown candidates."""
    if current["low"] is None:
        return original_masks(probability, pathology_probability, threshold, min_lesion_mm3, **rim)
    from RadioWMHSegLib.lesion_stats import remove_small_lesions

    raw_mask = grown(probability, threshold, current["low"])
    pathology_mask = None
    if pathology_probability is not None:
        pathology_mask = sitk.Cast(pathology_probability >= segment.PATHOLOGY_THRESHOLD, sitk.sitkUInt8)
        raw_mask = segment.exclude_pathology_rim(raw_mask, pathology_probability, pathology_mask, **rim)
    return remove_small_lesions(raw_mask, min_lesion_mm3), pathology_mask


def preprocessed_with_growth(case, loaded, *args, **kwargs):
    name = loaded.card.get("name", "")
    current["low"] = next((low for suffix, low in LOW_BY_SUFFIX.items() if name.endswith(suffix)), None)
    return original_segment(case, loaded, *args, **kwargs)


original_masks, original_segment = segment.masks_from_probabilities, segment.segment_preprocessed
segment.masks_from_probabilities, segment.segment_preprocessed = masks_with_growth, preprocessed_with_growth


def make(out_dir):
    from RadioWMHSegLib.model_io import CARD_FILE, bundled_model_dir

    for suffix, low in LOW_BY_SUFFIX.items():
        folder = Path(out_dir) / f"G{round(low * 100)}"
        shutil.copytree(bundled_model_dir(), folder)
        card = json.loads((folder / CARD_FILE).read_text())
        card["name"] += suffix
        card["post_processing"] = f"hysteresis: grown into P(WMH) >= {low} connected to P >= threshold (RULE.md)"
        (folder / CARD_FILE).write_text(json.dumps(card, indent=1))
        print(folder, card["name"])


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "make":
        make(arguments[0])
    else:
        benchmark = __import__(command)
        sys.argv = [f"{command}.py", *arguments]
        benchmark.main()
