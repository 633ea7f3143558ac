"""One call from a FLAIR to a WMH mask on the FLAIR's own voxel grid.

`segment_image` works on images in memory (the Slicer module calls it); `segment` reads and writes
files, and `segment_cohort` runs it over many cases. The command line is these functions.
"""

import json
import logging
import os
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
    from .precision import resolve_precision
    from .preprocessing.pipeline import preprocess

    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold {threshold} is outside (0, 1): give a probability such as 0.5")
    if min_lesion_mm3 < 0:
        raise InputError(f"minimum lesion size {min_lesion_mm3} mm3 is negative: give 0 or more")
    started = time.perf_counter()
    torch_device = resolve_device(device)
    precision = resolve_precision(precision, torch_device)
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
    # WMH only inside the brain, whatever the network says: the probability map too, since
    # interpolation back to a coarse native grid would otherwise smear it onto the skull.
    inside = sitk.Cast(case.brain_mask_native > 0, sitk.sitkUInt8)
    probability = sitk.Mask(sitk.Cast(case.to_native(prob_crop, sitk.sitkLinear), sitk.sitkFloat32), inside)
    raw_mask = sitk.Cast(probability >= threshold, sitk.sitkUInt8)
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
        "quality": {**case.quality, "warnings": list(case.quality.get("warnings", []))},
    }
    report(1.0, "done")
    return SegmentationResult(mask=mask, probability=probability, brain_mask=case.brain_mask_native,
                              stats=stats, record=record, model_card=loaded.card)


def _stats_document(result: SegmentationResult, input_path) -> dict:
    return {"input": str(input_path), **result.stats.to_dict(), "settings": result.record.get("settings"),
            "processing": result.record}


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


# The options that change a result: recorded in the stats JSON, so that a cohort rerun knows whether a
# case was done the way it is asked for now. Values are the defaults of segment_image and segment.
SETTINGS_DEFAULTS = {"threshold": DEFAULT_THRESHOLD, "min_lesion_mm3": DEFAULT_MIN_LESION_MM3, "skull_stripped": False,
                     "skull_strip_method": "auto", "tta": False, "precision": "fp32", "channel": None}


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
    if previous.get("model") != current["model"]:
        changes.append(f"model {(previous.get('model') or {}).get('name')} (now {current['model']['name']}, "
                       "or other weights)")
    for key in SETTINGS_DEFAULTS:
        if previous.get(key) != current.get(key):
            changes.append(f"{key} {previous.get(key)} (now {current.get(key)})")
    return ", ".join(changes) or "other settings"


# Output roles: the command-line flag that names each (for messages), the endings it may have, and an
# example file name.
OUTPUT_KINDS = {
    "output_mask": ("-o", (".nii.gz", ".nii", ".nrrd", ".mha"), "wmh.nii.gz"),
    "prob": ("--prob", (".nii.gz", ".nii", ".nrrd", ".mha"), "wmh_prob.nii.gz"),
    "brain_mask": ("--brain-mask", (".nii.gz", ".nii", ".nrrd", ".mha"), "brainmask.nii.gz"),
    "stats": ("--stats", (".json", ".csv"), "stats.json"),
    "png": ("--png", (".png",), "overlay.png"),
}


def check_writable_folder(folder, what: str):
    """Refuse, before any work, a folder that cannot be created or written (the outputs would be lost)."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{what} cannot be written under {folder}: {existing} is a file, not a folder; choose another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"the folder {existing} is not writable, so {what} cannot be written there: choose another "
                         "output folder")


def check_output_paths(outputs: dict, inputs=(), overwrite=False):
    """Refuse, before any work, outputs that could not be written or would destroy something.

    outputs: {role: path} with the roles of OUTPUT_KINDS. Each must have its format's ending, not be a
    folder, not be an input (nor lie inside an input DICOM folder), differ from the others, not exist
    unless overwrite, and have a writable folder.
    """
    sources = [(Path(p), Path(p).resolve()) for p in inputs if p]
    seen = {}
    for role, path in outputs.items():
        path = Path(path)
        flag, endings, example = OUTPUT_KINDS[role]
        if path.is_dir():
            raise InputError(f"{flag} {path} is a folder: give a file name, such as {path / example}")
        if not path.name.lower().endswith(endings):
            raise InputError(f"{flag} '{path.name}' does not end in {' or '.join(endings)}: give a file name such as "
                             f"{example}")
        where = path.resolve()
        for given, source in sources:
            if where == source:
                raise InputError(f"{flag} {path} is an input of this run and would be replaced: give the output another name")
            if source.is_dir() and source in where.parents:
                raise InputError(f"{flag} {path} lies inside the input DICOM folder {given}: write the outputs to "
                                 "another folder")
        if where in seen:
            raise InputError(f"{seen[where]} and {flag} name the same file {path}: give each output its own name")
        seen[where] = flag
        if path.exists() and not overwrite:
            raise InputError(f"{path} already exists: choose another name, remove it, or pass --overwrite")
        check_writable_folder(path.parent, f"{flag} {path.name}")


def check_same_grid(reference: sitk.Image, image: sitk.Image, reference_path):
    """Refuse a reference mask that is not on the input's voxel grid (its metrics would be meaningless)."""
    import numpy as np

    same = (reference.GetSize() == image.GetSize()
            and np.allclose(reference.GetSpacing(), image.GetSpacing(), rtol=1e-4, atol=1e-4)
            and np.allclose(reference.GetOrigin(), image.GetOrigin(), atol=1e-3)
            and np.allclose(reference.GetDirection(), image.GetDirection(), atol=1e-4))
    if not same:
        shown = " x ".join(str(n) for n in reference.GetSize())
        raise InputError(
            f"the reference '{Path(str(reference_path)).name}' is not on the FLAIR's voxel grid (size {shown} vs "
            f"{' x '.join(str(n) for n in image.GetSize())}, or another spacing, origin or orientation): give the "
            "reference mask made on this FLAIR"
        )


def _file_state(path: Path):
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size


def _outputs_report(before: dict, outputs: dict) -> str:
    """'written: a, b; not written: c' from the files' state before the writes began and now."""
    folders = {p.parent for p in outputs.values()}
    shown = {role: (p.name if len(folders) == 1 else str(p)) for role, p in outputs.items()}
    written = [role for role, p in outputs.items() if _file_state(p) is not None and _file_state(p) != before[role]]
    listed = (f"written: {', '.join(shown[r] for r in written) or 'none'}; "
              f"not written: {', '.join(shown[r] for r in outputs if r not in written) or 'none'}")
    return f"in {folders.pop()}, {listed}" if len(folders) == 1 else listed


def _write_outputs(result, outputs: dict, image, input_path, reference_image, overwrite):
    """Write each output atomically; a failure or an interrupt says which outputs exist and which do not."""
    writers = {
        "output_mask": lambda p: safe_write.atomic_write_image(result.mask, p, overwrite=overwrite),
        "prob": lambda p: safe_write.atomic_write_image(result.probability, p, overwrite=overwrite),
        "brain_mask": lambda p: safe_write.atomic_write_image(result.brain_mask, p, overwrite=overwrite),
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

    extra = {"reference": reference_image} if reference_image is not None else None
    save_overlay_png(image, result.mask, path, title=f"{Path(str(input_path)).name}: WMH "
                     f"{result.stats.total_volume_ml:.1f} mL, {result.stats.count} lesions",
                     extra_masks=extra, overwrite=overwrite)


def segment(input_path, output_mask, *, prob=None, brain_mask=None, stats=None, png=None, reference=None,
            channel=None, overwrite=False, **options) -> SegmentationResult:
    """Read a FLAIR file (or DICOM folder), segment it, write the requested outputs.

    Every output path and the reference are checked before any work, so that a clash is reported at
    once, and each output is written atomically. `reference`: a true mask on the same grid, to print
    the metrics (demo, checks). options: those of segment_image.

    Doubts about the input (not a head, partial field of view, lost geometry, missing DICOM slices,
    a contrast that is not FLAIR's) are logged and added to result.record["quality"]["warnings"].
    """
    from .image_io import read_flair, read_label
    from .input_checks import check_contrast, check_segmentable

    outputs = {role: Path(str(p)) for role, p in (("output_mask", output_mask), ("prob", prob),
                                                   ("brain_mask", brain_mask), ("stats", stats), ("png", png)) if p}
    if not outputs:
        raise InputError("no output was asked for: give an output mask path")
    check_output_paths(outputs, inputs=[input_path, reference], overwrite=overwrite)
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
        result = segment_image(image, **options)
        late = check_contrast(image, result.brain_mask, name)
        for message in late:
            log.warning(message)
        result.record.setdefault("quality", {}).setdefault("warnings", []).extend(warnings + late)
        result.record["settings"] = run_settings(result.model_card, {**options, "channel": channel})
        if reference_image is not None:
            from .metrics import compute_metrics

            result.record["metrics_vs_reference"] = compute_metrics(result.mask, reference_image)
    except KeyboardInterrupt as exc:
        raise KeyboardInterrupt("nothing was written") from exc
    _write_outputs(result, outputs, image, input_path, reference_image, overwrite)
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
    from .image_io import dicom_series_ids

    return folder.is_dir() and bool(dicom_series_ids(folder))


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


def _check_cohort_folder(output_dir: Path, inputs, cases, all_outputs):
    """Refuse, before any work, an output folder that is a file, unwritable, or where outputs meet inputs."""
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"-o {output_dir} is a file: with several inputs (a cohort), -o is the folder for the outputs")
    check_writable_folder(output_dir, "the outputs")
    where = output_dir.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if source.is_dir() and where == source:
            raise InputError(f"-o {output_dir} is an input folder: its outputs would be taken for cases on the next run; "
                             "choose another output folder")
        if source.is_dir() and source in where.parents and _is_dicom_folder(source):
            raise InputError(f"-o {output_dir} lies inside the input DICOM folder {source}: choose another output folder")
    clashes = {p.resolve() for p in all_outputs} & {Path(c).resolve() for c in cases}
    if clashes:
        raise InputError(f"the input {sorted(clashes)[0]} has the name of an output of another case and would be "
                         "replaced: rename it or choose another output folder")


def _previous_stats(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def segment_cohort(inputs, output_dir, *, write_prob=False, write_brain_mask=False, model=None, device="auto",
                   overwrite=False, show_progress=True, **options) -> list:
    """Segment every case; a bad case is reported and the others go on; finished cases are skipped.

    A case is finished when all the outputs asked for exist and its stats JSON records the same model
    (weights sha256) and settings as now; a case missing an output (an interrupted run) is redone.
    One done with other settings is redone with overwrite, else reported as "refused" with the
    difference. Returns one dict per case: {"case", "input", "status": done|skipped|refused|failed,
    "message", "warnings", ...}. A summary table (one row per case) is written to
    output_dir/cohort_summary.csv.
    """
    from tqdm import tqdm

    from .device import resolve_device
    from .model_io import LoadedModel, load_model

    cases = list_cohort(inputs)
    output_dir = Path(output_dir)
    planned = {case_name(p): cohort_outputs(output_dir, case_name(p)) for p in cases}
    _check_cohort_folder(output_dir, inputs, cases,
                         [p for outs in planned.values() for p in outs.values()] + [output_dir / "cohort_summary.csv"])
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise safe_write.write_error(output_dir, exc) from exc
    torch_device = resolve_device(device)
    loaded = model if isinstance(model, LoadedModel) else load_model(model, torch_device)
    settings = run_settings(loaded.card, options)
    rows = []
    for path in tqdm(cases, desc="segmenting", unit="case", disable=not show_progress):
        name = case_name(path)
        outputs = planned[name]
        row = {"case": name, "input": str(path)}
        wanted = {k: v for k, v in outputs.items()
                  if k in ("output_mask", "stats") or (k == "prob" and write_prob) or (k == "brain_mask" and write_brain_mask)}
        previous = _previous_stats(wanted["stats"]) if wanted["stats"].exists() and not overwrite else None
        if previous is not None:
            difference = settings_difference(previous.get("settings"), settings)
            if difference:
                rows.append({**row, "status": "refused",
                             "message": f"done before with other settings ({difference}): pass --overwrite to redo it, "
                                        "or choose another output folder"})
                continue
            if all(p.exists() for p in wanted.values()):
                rows.append({**row, "status": "skipped", "message": "already segmented with these settings",
                             "wmh_volume_ml": previous.get("total_volume_ml"), "lesion_count": previous.get("count"),
                             "warnings": ((previous.get("processing") or {}).get("quality") or {}).get("warnings", [])})
                continue
        try:
            # A case interrupted half-way left some outputs: they are redone, not trusted.
            result = segment(path, overwrite=True, model=loaded, device=device, **wanted, **options)
        except KeyboardInterrupt as exc:
            rows.append({**row, "status": "failed", "message": f"interrupted: {exc}"})
            _write_summary(rows, output_dir / "cohort_summary.csv")
            finished = sum(r["status"] in ("done", "skipped") for r in rows)
            raise KeyboardInterrupt(f"at case {name}: {exc}; {finished} case(s) finished before it; run the same "
                                    "command again to finish (finished cases are skipped)") from exc
        except RadioWMHSegError as exc:
            if isinstance(exc, CancelledError):
                raise
            log.error("%s: %s", name, exc)
            rows.append({**row, "status": "failed", "message": str(exc)})
            continue
        rows.append({**row, "status": "done", "message": "", "wmh_volume_ml": round(result.stats.total_volume_ml, 3),
                     "lesion_count": result.stats.count, "seconds": result.record.get("seconds"),
                     "warnings": result.record.get("quality", {}).get("warnings", [])})
    _write_summary(rows, output_dir / "cohort_summary.csv")
    return rows


def _write_summary(rows, path):
    import csv
    import io

    columns = ["case", "status", "wmh_volume_ml", "lesion_count", "seconds", "message", "warnings", "input"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**row, "warnings": " | ".join(row.get("warnings") or [])} for row in rows)
    safe_write.atomic_write_text(path, buffer.getvalue(), overwrite=True)  # a summary, regenerated each run
