"""One call from a FLAIR to a WMH mask on the FLAIR's own voxel grid.

`segment_image` works on images in memory (the Slicer module calls it); `segment` reads and writes
files, and `segment_cohort` (cohort.py) runs it over many cases. The command line is these functions.
Output paths are checked before any work by output_paths.py.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from . import safe_write
from .choices import (DEFAULT_MIN_LESION_MM3, DEFAULT_SEGMENT_PRECISION, DEFAULT_THRESHOLD, DEFAULT_TTA,
                      WMH_EXCLUSION_MARGIN_MM, WMH_EXCLUSION_MIN_REGION_ML, WMH_EXCLUSION_PATHOLOGY_P)
from .errors import CancelledError, InputError, RadioWMHSegError
from .output_paths import OUTPUT_KINDS, _file_state, _outputs_report, check_output_paths, check_same_grid  # noqa: F401
from .undercall_check import borderline_white_matter_ml, undercall_warning, white_matter_on_crop

log = logging.getLogger(__name__)

# A voxel is other pathology (label 2, 3-class models) where P(other pathology) >= 0.5: then no other
# class can be more likely. WMH is never called there, whatever the WMH threshold, nor on its rim
# (exclude_pathology_rim).
PATHOLOGY_THRESHOLD = 0.5


def exclude_pathology_rim(wmh_mask: sitk.Image, pathology_probability: sitk.Image, pathology_mask: sitk.Image,
                          min_probability=WMH_EXCLUSION_PATHOLOGY_P, margin_mm=WMH_EXCLUSION_MARGIN_MM,
                          min_region_ml=WMH_EXCLUSION_MIN_REGION_ML) -> sitk.Image:
    """The WMH mask less the other-pathology mask and, around each pathology region of at least
    min_region_ml, less its rim: every voxel within margin_mm (physical distance) of the region's mask, and
    the region's connected part where P(other pathology) >= min_probability. The defaults are chosen
    (choices.py says why); smaller specks of the mask get no rim, as those on WMH-only scans sit inside WMH."""
    import numpy as np

    pathology = sitk.GetArrayFromImage(pathology_mask) > 0
    voxel_ml = float(np.prod(pathology_mask.GetSpacing())) / 1000.0
    # Regions: the connected parts of P >= min_probability; each counts by the volume of its mask voxels.
    regions = sitk.GetArrayFromImage(sitk.ConnectedComponent(
        sitk.Cast(pathology_probability >= min_probability, sitk.sitkUInt8) | pathology_mask, True))
    core_ml = np.bincount(regions[pathology], minlength=int(regions.max()) + 1) * voxel_ml
    qualifying = np.flatnonzero(core_ml >= min_region_ml)
    large = np.isin(regions, qualifying[qualifying > 0])
    core = large & pathology
    excluded = pathology | large
    if core.any():
        core_image = sitk.GetImageFromArray(core.astype(np.uint8))
        core_image.CopyInformation(pathology_mask)
        # Distance from each voxel to the nearest core voxel, in mm on the image's own spacing.
        distance = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(
            core_image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True))
        excluded |= distance <= margin_mm
    keep = sitk.GetImageFromArray((~excluded).astype(np.uint8))
    keep.CopyInformation(wmh_mask)
    return sitk.Cast(wmh_mask * keep, sitk.sitkUInt8)


def on_input_grid(case, crop_array) -> sitk.Image:
    """A network-crop map of a preprocessed case, back on the input's grid (linear), zero outside the brain."""
    # The probability map too is cut to the brain: interpolation back to a coarse native grid would
    # otherwise smear it onto the skull.
    crop_array = crop_array * (case.brain_mask_crop > 0)
    inside = sitk.Cast(case.brain_mask_native > 0, sitk.sitkUInt8)
    return sitk.Mask(sitk.Cast(case.to_native(crop_array, sitk.sitkLinear), sitk.sitkFloat32), inside)


def masks_from_probabilities(probability, pathology_probability, threshold, min_lesion_mm3, **rim):
    """(WMH mask, other-pathology mask or None) from P(WMH) and, for a 3-class model, P(other pathology),
    both on one grid: the threshold, the pathology and its rim kept out (rim: exclude_pathology_rim's
    options, its defaults unless given), lesions under min_lesion_mm3 dropped."""
    from .lesion_stats import remove_small_lesions

    raw_mask = sitk.Cast(probability >= threshold, sitk.sitkUInt8)
    pathology_mask = None
    if pathology_probability is not None:
        pathology_mask = sitk.Cast(pathology_probability >= PATHOLOGY_THRESHOLD, sitk.sitkUInt8)
        raw_mask = exclude_pathology_rim(raw_mask, pathology_probability, pathology_mask, **rim)
    return remove_small_lesions(raw_mask, min_lesion_mm3), pathology_mask


@dataclass
class SegmentationResult:
    mask: sitk.Image  # uint8 {0, 1} on the input grid
    probability: sitk.Image  # float32 P(WMH) on the input grid
    brain_mask: sitk.Image  # uint8 on the input grid
    stats: object  # lesion_stats.LesionStats
    record: dict = field(default_factory=dict)  # stages, parameters, timings, model, device
    model_card: dict = field(default_factory=dict)
    uncertainty: sitk.Image = None  # float32 flip standard deviation of P(WMH) on the input grid, when asked
    uncertainty_score: dict = None  # uncertainty.summarise(): the case's score, when asked
    pathology_mask: sitk.Image = None  # uint8 {0, 1} other pathology (label 2): 3-class models only


def _stage_progress(progress, start, end):
    """Map a stage's own 0..1 progress onto [start, end] of the whole job."""
    if progress is None:
        return None
    return lambda fraction, message="": progress(start + (end - start) * float(fraction), message)


def _check_cancel(cancel):
    if cancel is not None and cancel():
        raise CancelledError("segmentation cancelled by the user; nothing was written")


def segment_image(image, *, skull_stripped=False, model=None, device="auto", threshold=DEFAULT_THRESHOLD,
                  min_lesion_mm3=DEFAULT_MIN_LESION_MM3, tta=DEFAULT_TTA, skull_strip_method="auto",
                  precision=DEFAULT_SEGMENT_PRECISION, uncertainty=False, progress=None,
                  cancel=None) -> SegmentationResult:
    """Segment WMH in a FLAIR (sitk.Image); every output lies on the input's grid.

    model: None (bundled model), a model folder, or a model_io.LoadedModel.
    uncertainty: also give result.uncertainty and its score (predicts with the TTA flips, as tta=True).
    A 3-class model also gives result.pathology_mask (label 2), where WMH is never called, nor on its rim.
    progress: callable(fraction, message); cancel: callable returning True to stop between stages.
    """
    from .device import resolve_device
    from .model_io import LoadedModel, load_model
    from .precision import resolve_precision
    from .preprocessing.pipeline import preprocess

    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold {threshold} is outside (0, 1): give a probability such as 0.5")
    if min_lesion_mm3 < 0:
        raise InputError(f"minimum lesion size {min_lesion_mm3} mm3 is negative: give 0 or more")
    started = time.perf_counter()
    report = progress or (lambda fraction, message="": None)
    # 'auto' on a new CPU times both precisions first (5-13 s, once per machine: precision.py).
    report(0.0, "choosing device and precision")
    torch_device = resolve_device(device)
    precision = resolve_precision(precision, torch_device)
    report(0.0, "loading model")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, torch_device)
    loaded.net.to(torch_device)
    _check_cancel(cancel)

    case = preprocess(image, skull_stripped=skull_stripped, skull_strip_method=skull_strip_method,
                      device=torch_device, progress=_stage_progress(progress, 0.02, 0.7))
    _check_cancel(cancel)
    return segment_preprocessed(case, loaded, torch_device, precision=precision, threshold=threshold,
                                min_lesion_mm3=min_lesion_mm3, tta=tta, uncertainty=uncertainty, progress=progress,
                                cancel=cancel, started=started)


def segment_preprocessed(case, loaded, torch_device, *, precision="fp32", threshold=DEFAULT_THRESHOLD,
                         min_lesion_mm3=DEFAULT_MIN_LESION_MM3, tta=DEFAULT_TTA, uncertainty=False, progress=None,
                         cancel=None, started=None) -> SegmentationResult:
    """The network and the way back of segment_image, on a preprocessing.pipeline.preprocess result.

    For callers that score several models on one image (benchmarks): the image is preprocessed once.
    loaded: a model_io.LoadedModel on torch_device; precision: 'fp32' or 'bf16' (already resolved).
    """
    from .device import describe_device
    from .inference import predict
    from .lesion_stats import compute_lesion_stats

    started = time.perf_counter() if started is None else started
    report = progress or (lambda fraction, message="": None)
    report(0.7, "running the network")
    t0 = time.perf_counter()
    tta = bool(tta or uncertainty)
    prediction = predict(loaded.net, case.network_input, torch_device, tta=tta, uncertainty=uncertainty,
                         precision=precision)
    network_seconds = time.perf_counter() - t0
    _check_cancel(cancel)

    report(0.9, "mapping the result back to the input grid")
    t0 = time.perf_counter()
    probability = on_input_grid(case, prediction.wmh)
    pathology_probability = None if prediction.pathology is None else on_input_grid(case, prediction.pathology)
    mask, pathology_mask = masks_from_probabilities(probability, pathology_probability, threshold, min_lesion_mm3)
    stats = compute_lesion_stats(mask, min_lesion_mm3=min_lesion_mm3)
    uncertainty_map = score = None
    if uncertainty:
        from .uncertainty import summarise

        uncertainty_map = on_input_grid(case, prediction.uncertainty)
        score = summarise(uncertainty_map, mask)
    borderline_ml = borderline_white_matter_ml(probability, mask, case.brain_mask_native,
                                               on_input_grid(case, white_matter_on_crop()), threshold)
    undercall = undercall_warning(stats.total_volume_ml, borderline_ml)
    if undercall:
        log.warning(undercall)
    back_seconds = time.perf_counter() - t0

    record = {
        "stages": list(case.record)
        + [
            {"stage": "network", "parameters": {"tta": tta, "precision": precision, "uncertainty": bool(uncertainty)},
             "seconds": round(network_seconds, 2)},
            {"stage": "map_back_and_threshold",
             "parameters": {"threshold": threshold, "min_lesion_mm3": min_lesion_mm3,
                            **({"wmh_excluded_where_p_pathology_at_least": WMH_EXCLUSION_PATHOLOGY_P,
                                "wmh_excluded_within_mm_of_pathology": WMH_EXCLUSION_MARGIN_MM,
                                "wmh_exclusion_around_pathology_regions_of_ml": WMH_EXCLUSION_MIN_REGION_ML}
                               if pathology_mask is not None else {})},
             "seconds": round(back_seconds, 2)},
        ],
        "device": describe_device(torch_device),
        "model": {"name": loaded.card.get("name"), "path": str(loaded.path) if loaded.path else None,
                  "weights_sha256": loaded.card.get("weights_sha256")},
        "seconds": round(time.perf_counter() - started, 2),
        "quality": {**case.quality, "borderline_white_matter_ml": round(borderline_ml, 3),
                    "warnings": list(case.quality.get("warnings", [])) + ([undercall] if undercall else [])},
    }
    report(1.0, "done")
    return SegmentationResult(mask=mask, probability=probability, brain_mask=case.brain_mask_native,
                              stats=stats, record=record, model_card=loaded.card, uncertainty=uncertainty_map,
                              uncertainty_score=score, pathology_mask=pathology_mask)


def _stats_document(result: SegmentationResult, input_path) -> dict:
    document = {"input": str(input_path), **result.stats.to_dict()}
    if result.uncertainty_score is not None:
        document["uncertainty"] = result.uncertainty_score
    if result.pathology_mask is not None:
        from .lesion_stats import mask_volume_ml

        document["other_pathology"] = {"volume_ml": round(mask_volume_ml(result.pathology_mask), 4)}
    return {**document, "settings": result.record.get("settings"), "processing": result.record}


def write_stats(result: SegmentationResult, path, input_path="", overwrite=False) -> Path:
    """Lesion statistics as JSON (everything) or CSV (one row per lesion), by the file's extension."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        rows = result.stats.to_rows()
        columns = list(rows[0].keys()) if rows else ["index", "n_voxels", "volume_ml"]
        return safe_write.atomic_write_csv(path, rows, columns, overwrite=overwrite)
    return safe_write.atomic_write_json(path, _stats_document(result, input_path), overwrite=overwrite)


# The options that change a result: recorded in the stats JSON, so that a cohort rerun knows whether a
# case was done the way it is asked for now. Values are the defaults of segment_image and segment.
SETTINGS_DEFAULTS = {"threshold": DEFAULT_THRESHOLD, "min_lesion_mm3": DEFAULT_MIN_LESION_MM3, "skull_stripped": False,
                     "skull_strip_method": "auto", "tta": DEFAULT_TTA, "precision": DEFAULT_SEGMENT_PRECISION,
                     "channel": None}


def run_settings(model_card: dict, options: dict) -> dict:
    """The model (name, weights sha256) and the options that shape a result, as they read back from JSON."""
    settings = {"model": {"name": (model_card or {}).get("name"),
                          "weights_sha256": (model_card or {}).get("weights_sha256")}}
    for key, default in SETTINGS_DEFAULTS.items():
        value = options.get(key, default)
        if value is None:
            value = default
        settings[key] = float(value) if key in ("threshold", "min_lesion_mm3") else value
    return json.loads(json.dumps(settings))


def settings_difference(previous, current: dict) -> str:
    """'' when previous equals current, else what differs, in words."""
    if previous == current:
        return ""
    if not isinstance(previous, dict):
        return "its settings were not recorded (an earlier version wrote it)"
    changes = []
    before, now = previous.get("model") or {}, current["model"]
    if before != now:
        if before.get("name") == now["name"]:
            changes.append(f"weights of model {now['name']} {str(before.get('weights_sha256'))[:8]}, now "
                           f"{str(now['weights_sha256'])[:8]}")
        else:
            changes.append(f"model {before.get('name')}, now {now['name']}")
    for key in SETTINGS_DEFAULTS:
        if previous.get(key) != current.get(key):
            changes.append(f"{key} {previous.get(key)}, now {current.get(key)}")
    return "; ".join(changes) or "other settings"


def _write_outputs(result, outputs: dict, image, input_path, reference_image, overwrite):
    """Write each output atomically; a failure or an interrupt says which outputs exist and which do not."""
    writers = {
        "output_mask": lambda p: safe_write.atomic_write_image(result.mask, p, overwrite=overwrite),
        "prob": lambda p: safe_write.atomic_write_image(result.probability, p, overwrite=overwrite),
        "brain_mask": lambda p: safe_write.atomic_write_image(result.brain_mask, p, overwrite=overwrite),
        "uncertainty": lambda p: safe_write.atomic_write_image(result.uncertainty, p, overwrite=overwrite),
        "pathology_mask": lambda p: safe_write.atomic_write_image(result.pathology_mask, p, overwrite=overwrite),
        "stats": lambda p: write_stats(result, p, input_path, overwrite=overwrite),
        "png": lambda p: _write_png(result, image, p, input_path, reference_image, overwrite),
    }
    before = {role: _file_state(path) for role, path in outputs.items()}
    role = None
    try:
        for role, path in outputs.items():
            writers[role](path)
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt(f"while writing the outputs ({_outputs_report(before, outputs)})") from exc
    except (RadioWMHSegError, OSError) as exc:
        message = str(exc) if isinstance(exc, RadioWMHSegError) else str(safe_write.write_error(outputs[role], exc))
        raise InputError(f"{message} ({_outputs_report(before, outputs)})") from exc


def _write_png(result, image, path, input_path, reference_image, overwrite):
    from .overlay_png import save_overlay_png

    extra = {"reference": reference_image} if reference_image is not None else {}
    if result.pathology_mask is not None:  # the report shows what was kept out of the WMH count
        extra["tumour / oedema, not WMH"] = result.pathology_mask
    save_overlay_png(image, result.mask, path, title=f"{Path(str(input_path)).name}: WMH "
                     f"{result.stats.total_volume_ml:.1f} mL, {result.stats.count} lesions",
                     extra_masks=extra, overwrite=overwrite)


def segment(input_path, output_mask, *, prob=None, brain_mask=None, stats=None, png=None, reference=None,
            uncertainty=None, pathology_mask=None, channel=None, overwrite=False, **options) -> SegmentationResult:
    """Read a FLAIR file (or DICOM folder), segment it, write the requested outputs.

    Every output path and the reference are checked before any work, so that a clash is reported at
    once, and each output is written atomically. `reference`: a true mask on the same grid, to print
    the metrics (demo, checks). options: those of segment_image. `uncertainty`: a path for the
    uncertainty map (it also puts the case's score in the stats JSON); `pathology_mask`: a path for
    the other-pathology mask, refused at once when the model has no such class.

    Doubts about the input (not a head, partial field of view, lost geometry, missing DICOM slices,
    a contrast that is not FLAIR's) are logged and added to result.record["quality"]["warnings"].
    """
    from .image_io import read_flair, read_label
    from .input_checks import check_contrast, check_segmentable

    outputs = {role: Path(str(p)) for role, p in (("output_mask", output_mask), ("prob", prob),
                                                   ("brain_mask", brain_mask), ("uncertainty", uncertainty),
                                                   ("pathology_mask", pathology_mask), ("stats", stats), ("png", png))
               if p}
    if not outputs:
        raise InputError("no output was asked for: give an output mask path")
    check_output_paths(outputs, inputs=[input_path, reference], overwrite=overwrite)
    if pathology_mask:
        from .model_io import check_pathology_class

        check_pathology_class(options.get("model"))
    name = f"'{Path(str(input_path)).name}'"
    try:
        warnings = []
        image = read_flair(input_path, channel=channel, warnings=warnings)
        reference_image = None
        if reference:
            reference_image = read_label(reference)
            check_same_grid(reference_image, image, reference)
        warnings += check_segmentable(image, name)
        for message in warnings:
            log.warning(message)  # at once: the user need not wait for the result to learn of a doubt
        result = segment_image(image, uncertainty=bool(uncertainty), **options)
        late = check_contrast(image, result.brain_mask, name)
        for message in late:
            log.warning(message)
        result.record.setdefault("quality", {}).setdefault("warnings", []).extend(warnings + late)
        result.record["settings"] = run_settings(result.model_card, {**options, "channel": channel,
                                                                      "tta": bool(options.get("tta") or uncertainty)})
        if reference_image is not None:
            from .metrics import compute_metrics

            result.record["metrics_vs_reference"] = compute_metrics(result.mask, reference_image)
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt("nothing was written") from exc
    _write_outputs(result, outputs, image, input_path, reference_image, overwrite)
    return result
