"""A cohort: many FLAIRs segmented in one run; a bad case is reported and the others go on; done cases are skipped.

Case names come from the file names; each case writes `<case>_wmh.nii.gz` and its siblings into one
output folder, and `cohort_summary.csv` lists every case.
"""

import json
import logging
from pathlib import Path

from . import safe_write
from .choices import IMAGE_ENDINGS
from .errors import CancelledError, InputError, RadioWMHSegError
from .output_paths import check_writable_folder

log = logging.getLogger(__name__)


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
        "uncertainty": output_dir / f"{name}_wmh_uncertainty.nii.gz",
        "pathology_mask": output_dir / f"{name}_other_pathology.nii.gz",
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


def segment_cohort(inputs, output_dir, *, write_prob=False, write_brain_mask=False, write_uncertainty=False,
                   write_pathology=False, model=None, device="auto", overwrite=False, show_progress=True,
                   **options) -> list:
    """Segment every case; a bad case is reported and the others go on; finished cases are skipped.

    A case is finished when all the outputs asked for exist and its stats JSON records the same model
    (weights sha256) and settings as now; a case missing an output (an interrupted run) is redone.
    One done with other settings is redone with overwrite, else reported as "refused" with the
    difference. Returns one dict per case: {"case", "input", "status": done|skipped|refused|failed,
    "message", "warnings", ...}. A summary table (one row per case) is written to
    output_dir/cohort_summary.csv. write_uncertainty: the uncertainty maps, and each case's score in its
    stats JSON (what `radiowmhseg rank` reads); write_pathology: other-pathology masks (3-class models).
    """
    from tqdm import tqdm

    from . import segment as segment_module  # looked up at call time: tests replace segment_image there
    from .device import resolve_device
    from .model_io import LoadedModel, check_pathology_class, load_model
    from .segment import run_settings, settings_difference

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
    if write_pathology:
        check_pathology_class(loaded)
    settings = run_settings(loaded.card, {**options, "tta": bool(options.get("tta") or write_uncertainty)})
    flags = {"prob": write_prob, "brain_mask": write_brain_mask, "uncertainty": write_uncertainty,
             "pathology_mask": write_pathology}
    rows = []
    for path in tqdm(cases, desc="segmenting", unit="case", disable=not show_progress):
        name = case_name(path)
        outputs = planned[name]
        row = {"case": name, "input": str(path)}
        wanted = {k: v for k, v in outputs.items() if flags.get(k, True)}
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
                             "uncertain_volume_ml": (previous.get("uncertainty") or {}).get("uncertain_volume_ml"),
                             "warnings": ((previous.get("processing") or {}).get("quality") or {}).get("warnings", [])})
                continue
        try:
            # A case interrupted half-way left some outputs: they are redone, not trusted.
            result = segment_module.segment(path, overwrite=True, model=loaded, device=torch_device, **wanted, **options)
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
                     "uncertain_volume_ml": (result.uncertainty_score or {}).get("uncertain_volume_ml"),
                     "warnings": result.record.get("quality", {}).get("warnings", [])})
    _write_summary(rows, output_dir / "cohort_summary.csv")
    return rows


def _write_summary(rows, path):
    columns = ["case", "status", "wmh_volume_ml", "lesion_count", "uncertain_volume_ml", "seconds", "message",
               "warnings", "input"]
    rows = [{**row, "warnings": " | ".join(row.get("warnings") or [])} for row in rows]
    safe_write.atomic_write_csv(path, rows, columns, overwrite=True)  # a summary, regenerated each run
