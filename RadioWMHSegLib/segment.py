"""One call from a FLAIR to a WMH mask on the FLAIR's own voxel grid.

`segment_image` works on images in memory (the Slicer module calls it); `segment` reads and writes
files, and `segment_cohort` runs it over many cases. The command line is these functions.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from . import safe_write
from .errors import CancelledError, InputError, RadioWMHSegError

log = logging.getLogger(__name__)

# Connected components smaller than this are dropped: at 1 mm they are single noisy voxels, and the
# WMH challenge's lesion-wise scores count every component.
DEFAULT_MIN_LESION_MM3 = 3.0
DEFAULT_THRESHOLD = 0.5


@dataclass
class SegmentationResult:
    mask: sitk.Image  # uint8 {0, 1} on the input grid
    probability: sitk.Image  # float32 P(WMH) on the input grid
    brain_mask: sitk.Image  # uint8 on the input grid
    stats: object  # lesion_stats.LesionStats
    record: dict = field(default_factory=dict)  # stages, parameters, timings, model, device
    model_card: dict = field(default_factory=dict)


def _stage_progress(progress, start, end):
    """Map a stage's own 0..1 progress onto [start, end] of the whole job."""
    if progress is None:
        return None
    return lambda fraction, message="": progress(start + (end - start) * float(fraction), message)


def _check_cancel(cancel):
    if cancel is not None and cancel():
        raise CancelledError("segmentation cancelled by the user; nothing was written")


def segment_image(image, *, skull_stripped=False, model=None, device="auto", threshold=DEFAULT_THRESHOLD,
                  min_lesion_mm3=DEFAULT_MIN_LESION_MM3, tta=False, skull_strip_method="auto",
                  precision="fp32", progress=None, cancel=None) -> SegmentationResult:
    """Segment WMH in a FLAIR (sitk.Image); every output lies on the input's grid.

    model: None (bundled model), a model folder, or a model_io.LoadedModel.
    progress: callable(fraction, message); cancel: callable returning True to stop between stages.
    """
    from .device import describe_device, resolve_device
    from .inference import predict_probability
    from .lesion_stats import compute_lesion_stats, remove_small_lesions
    from .model_io import LoadedModel, load_model
    from .preprocessing.pipeline import preprocess

    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold {threshold} is outside (0, 1): give a probability such as 0.5")
    if min_lesion_mm3 < 0:
        raise InputError(f"minimum lesion size {min_lesion_mm3} mm3 is negative: give 0 or more")
    started = time.perf_counter()
    torch_device = resolve_device(device)
    report = progress or (lambda fraction, message="": None)
    report(0.0, "loading model")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, torch_device)
    loaded.net.to(torch_device)
    _check_cancel(cancel)

    case = preprocess(image, skull_stripped=skull_stripped, skull_strip_method=skull_strip_method,
                      device=str(torch_device.type), progress=_stage_progress(progress, 0.02, 0.7))
    _check_cancel(cancel)

    report(0.7, "running the network")
    t0 = time.perf_counter()
    prob_crop = predict_probability(loaded.net, case.network_input, torch_device, tta=tta, precision=precision)
    prob_crop *= case.brain_mask_crop > 0
    network_seconds = time.perf_counter() - t0
    _check_cancel(cancel)

    report(0.9, "mapping the result back to the input grid")
    t0 = time.perf_counter()
    probability = sitk.Cast(case.to_native(prob_crop, sitk.sitkLinear), sitk.sitkFloat32)
    inside = sitk.Cast(case.brain_mask_native > 0, sitk.sitkUInt8)
    raw_mask = sitk.Cast(probability >= threshold, sitk.sitkUInt8) * inside
    mask = remove_small_lesions(raw_mask, min_lesion_mm3)
    stats = compute_lesion_stats(mask, min_lesion_mm3=min_lesion_mm3)
    back_seconds = time.perf_counter() - t0

    record = {
        "stages": list(case.record)
        + [
            {"stage": "network", "parameters": {"tta": tta, "precision": precision}, "seconds": round(network_seconds, 2)},
            {"stage": "map_back_and_threshold",
             "parameters": {"threshold": threshold, "min_lesion_mm3": min_lesion_mm3},
             "seconds": round(back_seconds, 2)},
        ],
        "device": describe_device(torch_device),
        "model": {"name": loaded.card.get("name"), "path": str(loaded.path) if loaded.path else None,
                  "weights_sha256": loaded.card.get("weights_sha256")},
        "seconds": round(time.perf_counter() - started, 2),
    }
    report(1.0, "done")
    return SegmentationResult(mask=mask, probability=probability, brain_mask=case.brain_mask_native,
                              stats=stats, record=record, model_card=loaded.card)


def _stats_document(result: SegmentationResult, input_path) -> dict:
    return {"input": str(input_path), **result.stats.to_dict(), "processing": result.record}


def write_stats(result: SegmentationResult, path, input_path="", overwrite=False) -> Path:
    """Lesion statistics as JSON (everything) or CSV (one row per lesion), by the file's extension."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        import csv
        import io

        rows = result.stats.to_rows()
        buffer = io.StringIO()
        columns = list(rows[0].keys()) if rows else ["index", "n_voxels", "volume_ml"]
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return safe_write.atomic_write_text(path, buffer.getvalue(), overwrite=overwrite)
    return safe_write.atomic_write_json(path, _stats_document(result, input_path), overwrite=overwrite)


def segment(input_path, output_mask, *, prob=None, brain_mask=None, stats=None, png=None, reference=None,
            channel=None, overwrite=False, **options) -> SegmentationResult:
    """Read a FLAIR file (or DICOM folder), segment it, write the requested outputs.

    Outputs are checked before any work so that a clash is reported at once, and each is written
    atomically. `reference`: a true mask on the same grid, to print the metrics (demo, checks).
    options: those of segment_image.
    """
    from .image_io import read_flair, read_label

    outputs = [p for p in (output_mask, prob, brain_mask, stats, png) if p]
    if not outputs:
        raise InputError("no output was asked for: give an output mask path")
    for path in outputs:
        if Path(path).exists() and not overwrite:
            raise InputError(f"{path} already exists: choose another name, remove it, or pass --overwrite")
    image = read_flair(input_path, channel=channel)
    reference_image = read_label(reference) if reference else None
    result = segment_image(image, **options)
    if output_mask:
        safe_write.atomic_write_image(result.mask, output_mask, overwrite=overwrite)
    if prob:
        safe_write.atomic_write_image(result.probability, prob, overwrite=overwrite)
    if brain_mask:
        safe_write.atomic_write_image(result.brain_mask, brain_mask, overwrite=overwrite)
    if reference_image is not None:
        from .metrics import compute_metrics

        result.record["metrics_vs_reference"] = compute_metrics(result.mask, reference_image)
    if stats:
        write_stats(result, stats, input_path, overwrite=overwrite)
    if png:
        from .overlay_png import save_overlay_png

        extra = {"reference": reference_image} if reference_image is not None else None
        save_overlay_png(image, result.mask, png, title=f"{Path(str(input_path)).name}: WMH "
                         f"{result.stats.total_volume_ml:.1f} mL, {result.stats.count} lesions",
                         extra_masks=extra)
    return result


IMAGE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def case_name(path) -> str:
    name = Path(path).name
    for ending in IMAGE_ENDINGS:
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    if name.endswith("_0000"):
        name = name[:-5]  # the nnU-Net channel suffix of imagesTr/ files
    return safe_write.safe_name(name)


def _is_dicom_folder(folder: Path) -> bool:
    return folder.is_dir() and bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def list_cohort(inputs) -> list:
    """Expand INPUT arguments (files, DICOM folders, folders of cases) into case paths."""
    cases = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise InputError(f"input {path} does not exist: check the path")
        if path.is_file() or _is_dicom_folder(path):
            cases.append(path)
            continue
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        found = [p for p in entries if (p.is_file() and p.name.lower().endswith(IMAGE_ENDINGS)) or _is_dicom_folder(p)]
        if not found:
            raise InputError(f"folder {path} holds no FLAIR images (.nii.gz, .nii, .nrrd, .mha) or DICOM series")
        cases.extend(found)
    names = [case_name(p) for p in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"several inputs share the case name(s) {', '.join(duplicates)}: rename them so outputs do not clash")
    return cases


def cohort_outputs(output_dir, name) -> dict:
    output_dir = Path(output_dir)
    return {
        "output_mask": output_dir / f"{name}_wmh.nii.gz",
        "prob": output_dir / f"{name}_wmh_prob.nii.gz",
        "brain_mask": output_dir / f"{name}_brainmask.nii.gz",
        "stats": output_dir / f"{name}_stats.json",
    }


def segment_cohort(inputs, output_dir, *, write_prob=False, write_brain_mask=False, model=None, device="auto",
                   show_progress=True, **options) -> list:
    """Segment every case; a bad case is reported and the others go on; finished cases are skipped.

    Returns one dict per case: {"case", "input", "status": done|skipped|failed, "message", outputs...}.
    A summary table (one row per case) is written to output_dir/cohort_summary.csv.
    """
    from tqdm import tqdm

    from .device import resolve_device
    from .model_io import LoadedModel, load_model

    cases = list_cohort(inputs)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch_device = resolve_device(device)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, torch_device)
    rows = []
    for path in tqdm(cases, desc="segmenting", unit="case", disable=not show_progress):
        name = case_name(path)
        outputs = cohort_outputs(output_dir, name)
        row = {"case": name, "input": str(path)}
        if outputs["output_mask"].exists() and outputs["stats"].exists():
            previous = json.loads(outputs["stats"].read_text())
            rows.append({**row, "status": "skipped", "message": "already segmented",
                         "wmh_volume_ml": previous.get("total_volume_ml"), "lesion_count": previous.get("count")})
            continue
        wanted = {k: v for k, v in outputs.items()
                  if k in ("output_mask", "stats") or (k == "prob" and write_prob) or (k == "brain_mask" and write_brain_mask)}
        try:
            # A case interrupted half-way left some outputs: they are redone, not trusted.
            result = segment(path, overwrite=True, model=loaded, device=device, **wanted, **options)
        except RadioWMHSegError as exc:
            if isinstance(exc, CancelledError):
                raise
            log.error("%s: %s", name, exc)
            rows.append({**row, "status": "failed", "message": str(exc)})
            continue
        rows.append({**row, "status": "done", "message": "", "wmh_volume_ml": round(result.stats.total_volume_ml, 3),
                     "lesion_count": result.stats.count, "seconds": result.record.get("seconds")})
    _write_summary(rows, output_dir / "cohort_summary.csv")
    return rows


def _write_summary(rows, path):
    import csv
    import io

    columns = ["case", "status", "wmh_volume_ml", "lesion_count", "seconds", "message", "input"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    safe_write.atomic_write_text(path, buffer.getvalue(), overwrite=True)  # a summary, regenerated each run
