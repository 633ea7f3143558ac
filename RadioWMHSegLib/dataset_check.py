"""Every problem of an existing dataset folder, listed rather than raised: files, grids, labels, duplicates, leaks.

`check_dataset(path)` reads every image and mask once and returns a CheckReport whose `problems`
(each one sentence naming the case and what to do) make training wrong or impossible:
- dataset.json unreadable, entries without image/label, case names listed twice, unknown space;
- image, mask or prediction files missing or unreadable, images that are no FLAIR (image_io checks);
- mask and image on different grids; mask values other than 0, 1, 2;
- the same scan (identical image voxels) under two names that are not versions of one case;
- splits.json that does not fit dataset.json or puts a case (or a version of it) on both sides;
- a case in a test list (dataset.json 'test', splits.json 'test') that is trained on, or a test
  image with the same voxels as a training image.
`notes` are worth knowing but not wrong: empty masks, files in imagesTr/labelsTr that no entry names.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .dataset_split import case_groups, declared_test_cases, group_key, read_splits, split_problems
from .datasets import DATASET_JSON, LABELS, SPACES, entry_to_case, read_dataset_json, voxel_sha256
from .errors import DatasetError, InputError
from .geometry import grid_difference
from .image_io import read_flair, read_label

ALLOWED_LABELS = tuple(sorted(LABELS.values()))


@dataclass
class CheckReport:
    dataset: Path
    n_cases: int = 0
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_files(case, report, digests):
    """Files, readability, grid and label values of one case; fills digests[case] with its image digest."""
    image = label = None
    for what, path in (("image", case.image_path), ("label", case.label_path), ("prediction", case.prediction_path)):
        if path is not None and not Path(path).exists():
            report.problems.append(f"case {case.name}: its {what} file {path} is missing: restore it or remove the "
                                   "case from dataset.json")
    try:
        image = read_flair(case.image_path) if Path(case.image_path).exists() else None
    except InputError as exc:
        report.problems.append(f"case {case.name}: image: {exc}")
    try:
        label = read_label(case.label_path) if Path(case.label_path).exists() else None
    except InputError as exc:
        report.problems.append(f"case {case.name}: label: {exc}")
    if image is not None:
        digests[case.name] = voxel_sha256(image)
    if label is None:
        return
    values = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(label)) if int(v) not in ALLOWED_LABELS]
    if values:
        report.problems.append(f"case {case.name}: the mask holds the values {', '.join(map(str, values[:5]))}: labels "
                               "must be 0 (background), 1 (WMH), 2 (other pathology) or 3 (unscored); relabel it")
    if not np.any(sitk.GetArrayViewFromImage(label)):
        report.notes.append(f"case {case.name}: the mask is empty (no WMH)")
    if image is not None:
        problem = grid_difference(image, label)
        if problem:
            report.problems.append(f"case {case.name}: image and mask are on different grids ({problem}): resample "
                                   "the mask onto the image grid")
    if case.prediction_path is not None and Path(case.prediction_path).exists() and image is not None:
        try:
            prediction = sitk.ReadImage(str(case.prediction_path))
        except RuntimeError:
            report.problems.append(f"case {case.name}: the prediction {case.prediction_path} cannot be read: replace it")
            return
        problem = grid_difference(image, prediction)
        if problem:
            report.problems.append(f"case {case.name}: the prediction is not on the image grid ({problem})")


def _same_case_id(a, b) -> bool:
    """Both exported from one FLAIR (3D Slicer's exportCase records its case_id): versions, whatever their names."""
    return bool(a.metadata.get("case_id")) and a.metadata.get("case_id") == b.metadata.get("case_id")


def _check_duplicates(cases, digests, report):
    first = {}
    for case in cases:
        digest = digests.get(case.name)
        if digest is None:
            continue
        if digest in first and group_key(first[digest]) != group_key(case) and not _same_case_id(first[digest], case):
            report.problems.append(f"cases {first[digest].name} and {case.name} have identical image voxels (the same "
                                   "scan under two names): remove one of them from dataset.json")
        first.setdefault(digest, case)


def _test_images(dataset_dir: Path, data: dict, case_names) -> list:
    """(label, path) of test-list items that are image files rather than training case names."""
    items = []
    for item in data.get("test", []) or []:
        path = item.get("image") if isinstance(item, dict) else item
        name = item.get("case") if isinstance(item, dict) else item
        if isinstance(name, str) and name in case_names:
            continue
        if isinstance(path, str):
            items.append((path, dataset_dir / path))
    return items


def _check_test_lists(dataset_dir, data, cases, digests, report):
    names = [c.name for c in cases]
    declared = declared_test_cases(data, names)
    try:
        splits = read_splits(dataset_dir)
    except DatasetError as exc:
        report.problems.append(str(exc))
        splits = None
    groups = case_groups(cases, digests)
    if splits is not None:
        splits = dict(splits, test=sorted(set(splits["test"]) | set(declared)))
        report.problems.extend(f"{problem}: fix splits.json or make new folds with 'radiowmhseg dataset split "
                               f"{dataset_dir} --overwrite'" for problem in split_problems(splits, cases, groups))
    elif declared:
        report.problems.append(f"cases {', '.join(declared[:5])} are in dataset.json's test list but also in its "
                               "training list, and no splits.json holds them out: make folds with 'radiowmhseg "
                               "dataset split' (it keeps them out) or remove them from 'training'")
    training_by_digest = {d: n for n, d in digests.items()}
    for shown, path in _test_images(dataset_dir, data, set(names)):
        if not path.exists():
            report.problems.append(f"test image {shown} in dataset.json is missing: restore it or remove it from 'test'")
            continue
        try:
            digest = voxel_sha256(sitk.ReadImage(str(path)))
        except RuntimeError:
            report.problems.append(f"test image {shown} cannot be read: replace it or remove it from 'test'")
            continue
        if digest in training_by_digest:
            report.problems.append(f"test image {shown} has the same voxels as training case "
                                   f"{training_by_digest[digest]}: a scan cannot be both trained and tested on")


def _stray_files(dataset_dir: Path, cases, report):
    listed = {Path(p).resolve() for c in cases for p in (c.image_path, c.label_path, c.prediction_path) if p}
    for folder in ("imagesTr", "labelsTr", "predictionsTr"):
        if (dataset_dir / folder).is_dir():
            stray = sorted(p.name for p in (dataset_dir / folder).iterdir()
                           if p.is_file() and not p.name.startswith(".") and p.resolve() not in listed)
            if stray:
                report.notes.append(f"{folder}/ holds {len(stray)} file(s) no case of dataset.json names "
                                    f"({', '.join(stray[:3])}{' ...' if len(stray) > 3 else ''})")


def check_dataset(dataset_dir, progress=None) -> CheckReport:
    """Every problem (and note) of the dataset at dataset_dir; never raises for a problem of the data."""
    dataset_dir = Path(dataset_dir)
    report = CheckReport(dataset_dir)
    if not dataset_dir.is_dir():
        report.problems.append(f"{dataset_dir} is not a folder: give a dataset folder (dataset.json, imagesTr/, labelsTr/)")
        return report
    try:
        data = read_dataset_json(dataset_dir)
    except DatasetError as exc:
        report.problems.append(str(exc))
        return report
    if data.get("space", "native") not in SPACES:
        report.problems.append(f"{DATASET_JSON} has space {data.get('space')!r}: use one of {', '.join(SPACES)}")
    cases, seen = [], set()
    for index, entry in enumerate(data.get("training", [])):
        try:
            case = entry_to_case(dataset_dir, entry, index)
        except DatasetError as exc:
            report.problems.append(str(exc))
            continue
        if case.name in seen:
            report.problems.append(f"case {case.name} is listed twice in {DATASET_JSON}: remove the duplicate entry")
            continue
        seen.add(case.name)
        cases.append(case)
    report.n_cases = len(cases)
    digests = {}
    for index, case in enumerate(cases):
        if progress:
            progress(index / max(len(cases), 1), f"checking {case.name}")
        _check_files(case, report, digests)
    _check_duplicates(cases, digests, report)
    _check_test_lists(dataset_dir, data, cases, digests, report)
    _stray_files(dataset_dir, cases, report)
    return report
