"""Taking cases out of a dataset without losing them: a wrongly exported or mislabelled case leaves
training, and its files go aside, never away.

`remove_cases` moves each case's files (image, label, the model's prediction where the export kept one)
into `DATASET/removed/<UTC time>/` under their own relative paths, with a `removed.json` that holds the
dataset.json entries as they were, so a case is put back by moving its files home and its entry into
dataset.json. A splits.json that names a removed case would no longer match the dataset: it goes into
the same folder, and the user is told to split again.

Order of writes, so an interruption never loses anything: removed.json first, then dataset.json without
the cases (atomic), then the moves. Stopped half-way, the files are still in the dataset folder, where
`dataset check` lists them as stray files.
"""

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

from .datasets import entry_to_case, read_dataset_json, write_dataset_json
from .dataset_split import SPLITS_JSON, read_splits
from .errors import DatasetError
from .safe_write import atomic_write_json

REMOVED_DIR = "removed"
REMOVED_RECORD = "removed.json"
_FILE_KEYS = ("image", "label", "prediction")


@dataclass
class RemoveReport:
    dataset: Path
    removed: list = field(default_factory=list)    # [case name]
    moved_to: Path = None                          # the removed/<time> folder
    kept_in_place: list = field(default_factory=list)  # [path]: files outside the dataset folder, not ours to move
    splits_moved: bool = False


def _inside(dataset_dir: Path, relative) -> bool:
    path = (dataset_dir / relative).resolve()
    return path.is_relative_to(dataset_dir.resolve())


def _named_in_splits(dataset_dir: Path, names) -> bool:
    splits = read_splits(dataset_dir)
    if splits is None:
        return False
    listed = set(splits["test"]).union(*(fold["train"] + fold["val"] for fold in splits["folds"]))
    return any(name in listed for name in names)


def _new_removal_folder(dataset_dir: Path) -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder, n = dataset_dir / REMOVED_DIR / stamp, 1
    while folder.exists():  # two removals in one second keep separate records
        n += 1
        folder = dataset_dir / REMOVED_DIR / f"{stamp}_{n}"
    return folder


def remove_cases(dataset_dir, names) -> RemoveReport:
    """Take the named cases out of dataset.json and move their files aside; refuses an unknown name."""
    dataset_dir = Path(dataset_dir)
    names = list(dict.fromkeys(str(n) for n in names))
    if not names:
        raise DatasetError("name at least one case to remove")
    data = read_dataset_json(dataset_dir)
    entries = data.get("training", [])
    # Named as load_dataset names them; a malformed entry is refused there with what to fix.
    known = [entry_to_case(dataset_dir, entry, index).name for index, entry in enumerate(entries)]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DatasetError(f"{', '.join(unknown)} not in {dataset_dir / 'dataset.json'}: its cases are "
                           f"{', '.join(known) or '(none)'}")
    leaving = [entry for entry, name in zip(entries, known) if name in names]
    named_in_splits = _named_in_splits(dataset_dir, names)

    folder = _new_removal_folder(dataset_dir)
    report = RemoveReport(dataset_dir, removed=[name for name in known if name in names], moved_to=folder,
                          splits_moved=named_in_splits)
    moves = []
    for entry in leaving:
        for key in _FILE_KEYS:
            relative = entry.get(key)
            if not relative:
                continue
            if _inside(dataset_dir, relative) and (dataset_dir / relative).exists():
                moves.append((dataset_dir / relative, folder / relative))
            elif not _inside(dataset_dir, relative):
                report.kept_in_place.append(str(dataset_dir / relative))
    if named_in_splits:
        moves.append((dataset_dir / SPLITS_JSON, folder / SPLITS_JSON))

    atomic_write_json(folder / REMOVED_RECORD, {
        "removed": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cases": leaving, "splits_json_moved": named_in_splits,
        "to_restore": "move the files back to the same paths under the dataset folder and put each entry "
                      "back into dataset.json's 'training' list",
    })
    data["training"] = [entry for entry, name in zip(entries, known) if name not in names]
    write_dataset_json(dataset_dir, data)
    for source, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # same file system: a rename, never a copy and delete
    return report


def format_removal(report: RemoveReport) -> list:
    lines = [f"removed {name}" for name in report.removed]
    lines += [f"note: {path} is outside the dataset folder and was left where it is" for path in report.kept_in_place]
    if report.splits_moved:
        lines.append(f"note: splits.json named a removed case and was moved to {report.moved_to}; make new folds "
                     f"with: radiowmhseg dataset split {report.dataset}")
    lines.append(f"{len(report.removed)} case(s) taken out of {report.dataset / 'dataset.json'}; their files and "
                 f"entries are in {report.moved_to} (see {REMOVED_RECORD} to put them back)")
    return lines
