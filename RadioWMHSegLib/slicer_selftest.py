"""The module's self-test as plain steps: sample in, background job, edit, export, checked against the true mask.

RadioWMHSegTest (in RadioWMHSeg.py) runs `run_workflow` on the bundled sample inside 3D Slicer with
a QProcess; the pytest suite runs the same steps headless with a fake process. No Qt here.
"""

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import slicer_install
from .segment_options import SegmentOptions
from .slicer_geometry import volume_to_sitk
from .slicer_nodes import read_volume_file, remove_node
from .slicer_segments import labelmap_node_to_sitk, segment_to_sitk, set_mask_to_segment, wmh_segment_id

# The bundled model must reach this Dice against the sample's true mask in the self-test.
SAMPLE_DICE_FLOOR = 0.5
JOB_TIMEOUT_SECONDS = 1800


def sample_paths():
    """(sample FLAIR, its true WMH mask): Resources/Sample beside the library, as installed and in the repository."""
    folder = Path(__file__).resolve().parent.parent / "Resources" / "Sample"
    return folder / "sample_flair.nii.gz", folder / "sample_wmh_truth.nii.gz"


def skip_reason():
    """Why the self-test cannot run here (None when it can): the extension build server has no torch."""
    missing = slicer_install.Installer().missing()
    if missing:
        return (f"the Python packages it needs are missing ({', '.join(missing)}), as on Slicer's extension build "
                "server; press Apply once in the module to install them")
    return None


def run_workflow(logic, jobs, volume_node, truth_path, dataset_dir, options=None) -> dict:
    """Segment in a background job, edit as a user would, export; raise AssertionError when a step fails.

    The edit paints the true lesions the model missed and erases its false positives in the upper
    half of the volume (a partial correction, as users make). Returns {"dice": Dice of the model's
    result against the true mask, "segmentation", "case" (the exported datasets.Case), "entry"
    (its dataset.json entry)}; the caller compares "dice" with SAMPLE_DICE_FLOOR.
    """
    from .metrics import dice  # here: scipy comes with the first-use install, after the module has loaded

    ends = []
    jobs.start_segmentation(logic, volume_node, options or SegmentOptions(), finished=ends.append)
    if not jobs.wait(JOB_TIMEOUT_SECONDS) or not ends:
        jobs.cancel()
        raise AssertionError(f"the segmentation job did not end within {JOB_TIMEOUT_SECONDS} s")
    end = ends[0]
    if end.status != "done":
        raise AssertionError(f"the segmentation job {end.status}: {end.message}")
    segmentation = end.result
    segment_id = wmh_segment_id(segmentation)
    if segmentation.GetSegmentation().GetSegment(segment_id).GetName() != "WMH":
        raise AssertionError("the result has no segment named WMH")

    truth_node = read_volume_file(truth_path, volume_node.GetScene(), labelmap=True)
    truth = labelmap_node_to_sitk(truth_node, volume_node)
    remove_node(truth_node)
    predicted = segment_to_sitk(segmentation, volume_node)
    model_dice = dice(predicted, truth)

    edited = sitk.GetArrayFromImage(predicted)
    upper = slice(edited.shape[0] // 2, None)
    edited[upper] = sitk.GetArrayViewFromImage(truth)[upper]
    edited = np.maximum(edited, sitk.GetArrayViewFromImage(truth))
    corrected = sitk.GetImageFromArray(edited.astype(np.uint8))
    corrected.CopyInformation(predicted)
    set_mask_to_segment(segmentation, corrected, segment_id)
    stats = logic.updateStatistics(segmentation, volume_node)
    voxel_ml = float(np.prod(volume_to_sitk(volume_node).GetSpacing())) / 1000.0
    if abs(stats["total_volume_ml"] - float(edited.sum()) * voxel_ml) > 1e-6 + 1e-6 * float(edited.sum()):
        raise AssertionError("the statistics after the edit do not measure the edited segment")

    case = logic.exportCase(volume_node, segmentation, dataset_dir, annotator="RadioWMHSegTest")
    label = sitk.ReadImage(str(case.label_path))
    if not np.array_equal(sitk.GetArrayFromImage(label), edited):
        raise AssertionError("the exported label is not the edited segment")
    entries = json.loads((Path(dataset_dir) / "dataset.json").read_text(encoding="utf-8"))["training"]
    entry = next(e for e in entries if e["case"] == case.name)
    expected = round(dice(predicted, corrected), 4)
    if abs(entry.get("dice_original_vs_corrected", -1.0) - expected) > 1e-4:
        raise AssertionError(f"dataset.json reports Dice(original, corrected) {entry.get('dice_original_vs_corrected')}"
                             f", expected {expected}")
    if not entry.get("case_id") or entry.get("version") != 1:
        raise AssertionError(f"dataset.json lacks the case id or version 1: {entry}")
    return {"dice": model_dice, "segmentation": segmentation, "case": case, "entry": entry}
