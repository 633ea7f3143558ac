"""A corrected case out of the Slicer scene into a training dataset: its stable id, its label, its record.

The annotator's correction is the point of the loop (segment -> correct -> export -> fine-tune), so an
export never overwrites: the same FLAIR exported again becomes a new version of its case.
"""

import datetime
import hashlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import safe_write
from .errors import InputError
from .lesion_stats import mask_volume_ml
from .slicer_geometry import volume_to_sitk
from .slicer_segments import pathology_segment_id, segment_to_sitk, unscored_segment_id

EXPORT_SOURCE = "3D Slicer RadioWMHSeg module"


def flair_case_id(image: sitk.Image) -> str:
    """Stable id of a FLAIR, the same for every export of it: a digest of its voxels and grid.

    The voxels are taken in a canonical order (sitk.DICOMOrient), so the id does not change when
    3D Slicer reads a left-handed file right-handed (reversed slices, same voxels in space) or when
    the volume is renamed; a case exported and loaded back keeps its id.
    """
    canonical = sitk.DICOMOrient(sitk.Cast(image, sitk.sitkFloat32), "LPS")
    digest = hashlib.sha256(repr((canonical.GetSize(), [round(s, 3) for s in canonical.GetSpacing()])).encode())
    digest.update(np.ascontiguousarray(sitk.GetArrayViewFromImage(canonical)).tobytes())
    return "flair-" + digest.hexdigest()[:16]


def label_with_pathology(segmentation_node, volume_node) -> sitk.Image:
    """The training label on the volume's grid: 1 where WMH, 2 where the other-pathology segment (kept) says so,
    3 where the unscored segment (an annotator's "not sure here") says so."""
    label = segment_to_sitk(segmentation_node, volume_node)
    segment_id = pathology_segment_id(segmentation_node)
    if segment_id:  # pathology wins where both were painted, as segment_image never calls WMH inside it
        pathology = segment_to_sitk(segmentation_node, volume_node, segment_id)
        label = sitk.Cast(sitk.Mask(label, pathology, maskingValue=1, outsideValue=0) + pathology * 2, sitk.sitkUInt8)
    segment_id = unscored_segment_id(segmentation_node)
    if segment_id:  # unscored wins over both: the annotator chose to leave that region open
        unscored = segment_to_sitk(segmentation_node, volume_node, segment_id)
        label = sitk.Cast(sitk.Mask(label, unscored, maskingValue=1, outsideValue=0) + unscored * 3, sitk.sitkUInt8)
    return label


def next_version(dataset_dir, case_id) -> int:
    """1 for the first export of this case id into the dataset, then 2, 3, ..."""
    from . import datasets

    if not (Path(dataset_dir) / datasets.DATASET_JSON).is_file():
        return 1
    entries = datasets.read_dataset_json(dataset_dir).get("training", [])
    return 1 + sum(1 for e in entries if isinstance(e, dict) and e.get("case_id") == case_id)


def export_case(volume_node, segmentation_node, dataset_dir, prediction, model_info: dict, parameters: dict, *,
                case_name=None, annotator="", case_id=None):
    """Write FLAIR + corrected label (+ the model's original prediction, metadata) as a new training case.

    prediction: the original prediction on the volume's grid (sitk) or None; model_info and parameters:
    what the segmentation node recorded of the run. The metadata holds "case_id" (the same for every
    export of this FLAIR: flair_case_id, or case_id, the id of the dataset case it was loaded from),
    "version" (1 for its first export into this dataset, then 2, 3, ...) and the Dice of the original
    prediction against the correction. Returns the datasets.Case written.
    """
    from . import datasets
    from .metrics import compute_metrics

    if not dataset_dir:
        raise InputError("no dataset folder was given: choose the folder that collects the training cases")
    image = volume_to_sitk(volume_node)
    label = label_with_pathology(segmentation_node, volume_node)
    case_id = case_id or flair_case_id(image)
    metadata = {
        "case_id": case_id,  # every export of this FLAIR shares it: versions of a case stay together in splits
        "version": next_version(dataset_dir, case_id),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "annotator": annotator or "",
        "model": model_info.get("name"),
        "model_weights_sha256": model_info.get("weights_sha256"),
        "source": EXPORT_SOURCE,
        "input_volume": volume_node.GetName(),
        "wmh_volume_ml": round(mask_volume_ml(label, 1), 4),
    }
    if "skull_stripped" in parameters:  # so that fine-tuning prepares the case as it was segmented
        metadata["skull_stripped"] = bool(parameters["skull_stripped"])
    if pathology_segment_id(segmentation_node):
        metadata["other_pathology_volume_ml"] = round(mask_volume_ml(label, 2), 4)
    if unscored_segment_id(segmentation_node):
        metadata["unscored_volume_ml"] = round(mask_volume_ml(label, 3), 4)
    if prediction is not None:
        metadata["dice_original_vs_corrected"] = round(float(compute_metrics(prediction, label)["dsc"]), 4)
    name = safe_write.safe_name(case_name or volume_node.GetName())
    return datasets.add_case(dataset_dir, name, image, label, prediction=prediction, metadata=metadata)
