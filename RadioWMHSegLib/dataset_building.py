"""Bringing a user's own labelled scans (image + mask files) into a dataset, each case checked before it is written.

The sources are one pair of files, a folder of case folders (`<case>/FLAIR.nii.gz` + `<case>/WMH.nii.gz`,
the names given as glob patterns) or a CSV manifest (`case,image,label[,skull_stripped,...]`). Images
may be DICOM series folders, read as `segment` reads them (`image_io.read_flair`). A case is refused,
with one sentence saying why, when its image or mask cannot be read, the mask is not on the image's
grid (unless resample_label, which says what it did), the mask holds values other than 0/1/2/3, its
name is already taken, or its image is a scan the dataset already holds; an empty mask is added and
reported. Nothing of a refused case is written; the cases that pass are written atomically one by
one, and dataset.json is rewritten after each, so an interrupted run keeps what it finished.
"""

import csv
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import SimpleITK as sitk

from .choices import IMAGE_ENDINGS
from .datasets import (DATASET_JSON, FILE_ENDING, LABELS, create_dataset, image_relpath,
                       label_relpath, read_dataset_json, voxel_sha256, write_case_files, write_dataset_json)
from .errors import DatasetError, InputError
from .geometry import grid_difference
from .image_io import read_flair, read_label
from .safe_write import safe_name

ALLOWED_LABELS = tuple(sorted(LABELS.values()))  # 0 background, 1 WMH, 2 other pathology, 3 unscored
MANIFEST_COLUMNS = ("case", "image", "label")
_TRUE, _FALSE = ("1", "true", "yes", "y"), ("0", "false", "no", "n")


@dataclass
class SourceCase:
    """One pair to add: where it came from (for messages) and what the user said about it."""
    name: str
    image: Path
    label: Path
    origin: str = ""
    skull_stripped: Optional[bool] = None  # None: the dataset's default
    metadata: dict = field(default_factory=dict)


@dataclass
class AddReport:
    dataset: Path
    added: list = field(default_factory=list)    # [case name]
    skipped: list = field(default_factory=list)  # [(case name, why)]: already there, identical
    refused: list = field(default_factory=list)  # [(case name, why)]
    notes: list = field(default_factory=list)    # [(case name, what)]: empty masks, resampled masks
    created: bool = False
    dry_run: bool = False


def default_case_name(image_path) -> str:
    """The image's file name without its ending (a DICOM folder: the folder's name)."""
    name = Path(image_path).name
    for ending in IMAGE_ENDINGS:
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    return safe_name(name)


def _one_match(folder: Path, pattern: str, what: str):
    matches = sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))
    if not matches:
        return None, f"no {what} matching '{pattern}' in {folder}: check the folder or the --{what}-pattern"
    if len(matches) > 1:
        shown = ", ".join(p.name for p in matches[:4])
        return None, f"{len(matches)} files match the {what} pattern '{pattern}' ({shown}): give a pattern that matches one"
    return matches[0], None


def cases_from_folders(parent, image_pattern="FLAIR.nii.gz", label_pattern="WMH.nii.gz") -> tuple:
    """([SourceCase], [(case, why refused)]) for every sub-folder of parent, named after the folder."""
    parent = Path(parent)
    if not parent.is_dir():
        raise InputError(f"{parent} is not a folder: give the folder that holds one sub-folder per case")
    folders = sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise InputError(f"{parent} holds no case folders: give the folder whose sub-folders are the cases")
    cases, refused = [], []
    for folder in folders:
        image, why = _one_match(folder, image_pattern, "image")
        label, why_label = _one_match(folder, label_pattern, "label")
        why = why or why_label
        if why is None and image.resolve() == label.resolve():
            why = f"the image and label patterns both match {image.name}: give patterns that tell them apart"
        if why:
            refused.append((safe_name(folder.name), why))
        else:
            cases.append(SourceCase(folder.name, image, label, origin=f"folder {folder.name}"))
    return cases, refused


def _parse_bool(text, where):
    value = str(text).strip().lower()
    if value == "":
        return None
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise InputError(f"{where}: skull_stripped '{text}' is not yes/no (true/false, 1/0)")


def cases_from_csv(manifest) -> tuple:
    """([SourceCase], [(case, why refused)]) from a CSV with columns case,image,label (paths relative to
    the CSV's folder or absolute), an optional skull_stripped column and any others kept as metadata."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise InputError(f"manifest {manifest} does not exist: give a CSV file with the columns case,image,label")
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
        header = [(h or "").strip().lower() for h in (rows[0].keys() if rows else [])]
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if not rows or missing:
        raise InputError(f"{manifest.name} must have a header line with the columns case,image,label "
                         f"{'and at least one case' if not missing else '(missing: ' + ', '.join(missing) + ')'}")
    cases, refused = [], []
    for number, raw in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        where = f"line {number} of {manifest.name}"
        if not all(row.get(c) for c in MANIFEST_COLUMNS):
            refused.append((row.get("case") or where, f"{where} lacks a case, image or label value: fill it in"))
            continue
        try:
            stripped = _parse_bool(row.get("skull_stripped", ""), where)
        except InputError as exc:
            refused.append((row["case"], str(exc)))
            continue
        extra = {k: v for k, v in row.items() if k not in MANIFEST_COLUMNS + ("skull_stripped",) and k and v}
        paths = [Path(row[c]).expanduser() for c in ("image", "label")]
        paths = [p if p.is_absolute() else manifest.parent / p for p in paths]
        cases.append(SourceCase(row["case"], paths[0], paths[1], origin=where, skull_stripped=stripped,
                                metadata=extra))
    return cases, refused


@dataclass
class CheckedCase:
    image: sitk.Image
    label: sitk.Image
    metadata: dict
    notes: list


def check_case(source: SourceCase, resample_label=False) -> CheckedCase:
    """Read and check one pair (nothing written); raises InputError with the reason it is refused."""
    image = read_flair(source.image)
    label = read_label(source.label)
    values = np.unique(sitk.GetArrayViewFromImage(label))
    bad = [int(v) for v in values if int(v) not in ALLOWED_LABELS]
    if bad:
        raise InputError(f"mask {source.label.name} holds the values {', '.join(map(str, bad[:5]))}: labels must be "
                         "0 (background), 1 (WMH), 2 (other pathology) or 3 (unscored); relabel it first")
    metadata, notes = {}, []
    problem = grid_difference(image, label)
    if problem:
        if not resample_label:
            raise InputError(f"image and mask are on different grids ({problem}): resample the mask onto the image "
                             "grid, or pass --resample-label to do it by nearest neighbour")
        before = int(np.count_nonzero(sitk.GetArrayViewFromImage(label) == 1))
        old = {"size": list(label.GetSize()), "spacing": [round(s, 4) for s in label.GetSpacing()],
               "origin": [round(o, 3) for o in label.GetOrigin()]}
        label = sitk.Resample(label, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        after = int(np.count_nonzero(sitk.GetArrayViewFromImage(label) == 1))
        if before and not after:
            raise InputError(f"the mask's WMH falls outside the image once resampled onto its grid ({problem}): "
                             "check that image and mask belong together")
        metadata["label_resampled_from"] = old
        notes.append(f"mask resampled onto the image grid by nearest neighbour ({problem}); WMH voxels {before} -> {after}")
    label = sitk.Cast(label, sitk.sitkUInt8)
    array = sitk.GetArrayViewFromImage(label)
    wmh_voxels = int(np.count_nonzero(array == 1))
    if not np.any(array):
        notes.append("the mask is empty (no WMH): added as a case without lesions")
    elif not wmh_voxels:
        notes.append("the mask has no WMH (label 1), only other pathology (label 2)")
    metadata.update({"image_voxels_sha256": voxel_sha256(image), "label_voxels_sha256": voxel_sha256(label),
                     "wmh_volume_ml": round(wmh_voxels * float(np.prod(image.GetSpacing())) / 1000.0, 4)})
    return CheckedCase(image, label, metadata, notes)


def _open_dataset(dataset_dir: Path, skull_stripped, dry_run) -> tuple:
    """(dataset.json data, created?) for a dataset to add to; a new folder becomes a 'native' dataset."""
    if (dataset_dir / DATASET_JSON).exists():
        data = read_dataset_json(dataset_dir)
        if data.get("space", "native") != "native":
            raise DatasetError(f"{dataset_dir} holds {data.get('space')} cases (a synthetic cohort): add your own scans "
                               "to a dataset of their own ('radiowmhseg dataset create NEW_DIR')")
        return data, False
    if dataset_dir.exists() and (not dataset_dir.is_dir() or any(dataset_dir.iterdir())):
        raise DatasetError(f"{dataset_dir} is not empty and holds no dataset.json: give a new folder, or one made "
                           "by 'radiowmhseg dataset create'")
    if dry_run:
        return {"space": "native", "skull_stripped": bool(skull_stripped), "training": []}, False
    create_dataset(dataset_dir, space="native", skull_stripped=bool(skull_stripped),
                   description="labelled scans added with 'radiowmhseg dataset add'")
    return read_dataset_json(dataset_dir), True


def add_cases(dataset_dir, sources, *, resample_label=False, skull_stripped=None, dry_run=False,
              progress=None) -> AddReport:
    """Check each SourceCase and write those that pass (none when dry_run); returns what happened.

    skull_stripped (None: the dataset's own setting) is recorded per case unless the source says.
    """
    dataset_dir = Path(dataset_dir)
    data, created = _open_dataset(dataset_dir, skull_stripped, dry_run)
    report = AddReport(dataset_dir, created=created, dry_run=dry_run)
    default_stripped = bool(data.get("skull_stripped", False)) if skull_stripped is None else bool(skull_stripped)
    existing = {str(e.get("case")): e for e in data.get("training", []) if isinstance(e, dict)}
    by_digest = {e["image_voxels_sha256"]: name for name, e in existing.items() if e.get("image_voxels_sha256")}
    origin_of = {}
    for index, source in enumerate(sources):
        name = safe_name(str(source.name))
        if progress:
            progress(index / max(len(sources), 1), f"checking {name}")
        if name in origin_of:
            report.refused.append((name, f"the case name {name} is used twice ({origin_of[name]} and {source.origin}): "
                                         "give each case its own name"))
            continue
        origin_of[name] = source.origin or name
        try:
            checked = check_case(source, resample_label=resample_label)
        except InputError as exc:
            report.refused.append((name, str(exc)))
            continue
        if name in existing:
            old = existing[name]
            if (old.get("image_voxels_sha256"), old.get("label_voxels_sha256")) == (
                    checked.metadata["image_voxels_sha256"], checked.metadata["label_voxels_sha256"]):
                report.skipped.append((name, "already in the dataset with the same image and mask"))
            else:
                report.refused.append((name, f"a case named {name} is already in {dataset_dir}: give this one another "
                                             "name (--case, the folder name or the CSV 'case' column)"))
            continue
        twin = by_digest.get(checked.metadata["image_voxels_sha256"])
        if twin is not None:
            report.refused.append((name, f"its image has the same voxels as case {twin} of the dataset: "
                                         "a scan is added once"))
            continue
        if not dry_run and any((dataset_dir / rel).exists() for rel in (image_relpath(name), label_relpath(name))):
            report.refused.append((name, f"{image_relpath(name)} or {label_relpath(name)} already exists though "
                                         "dataset.json does not list it: remove those files or choose another name"))
            continue
        metadata = dict(source.metadata)
        metadata.update({
            "base_case": name, "version": 1,
            "skull_stripped": default_stripped if source.skull_stripped is None else bool(source.skull_stripped),
            "source_image": str(Path(source.image).resolve()), "source_label": str(Path(source.label).resolve()),
            "added": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "source": "radiowmhseg dataset add",
        })
        metadata.update(checked.metadata)
        report.notes.extend((name, note) for note in checked.notes)
        by_digest[metadata["image_voxels_sha256"]] = name
        report.added.append(name)
        if dry_run:
            continue
        entry = write_case_files(dataset_dir, name, checked.image, checked.label)
        entry.update(metadata)
        data.setdefault("training", []).append(entry)
        existing[name] = entry
        write_dataset_json(dataset_dir, data)
    return report


def format_report(report: AddReport, refused_before=()) -> list:
    """Lines for the user: one per refused case, one per note, then the summary."""
    lines = [f"refused {name}: {why}" for name, why in list(refused_before) + report.refused]
    lines += [f"note {name}: {what}" for name, what in report.notes]
    lines += [f"skipped {name}: {why}" for name, why in report.skipped]
    verb = "would add" if report.dry_run else "added"
    summary = (f"{verb} {len(report.added)} case(s) to {report.dataset}"
               + (" (new dataset)" if report.created else "")
               + f"; {len(report.skipped)} already there, {len(report.refused) + len(refused_before)} refused")
    if report.added and not report.dry_run:
        summary += f"; images in {report.dataset / 'imagesTr'} ({FILE_ENDING})"
    return lines + [summary]
