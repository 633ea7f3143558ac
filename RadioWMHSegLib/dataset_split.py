"""Case-level folds of a dataset (splits.json beside dataset.json) that never put one case on both sides.

As nnU-Net's splits_final.json: a list of folds, each {"train": [case names], "val": [case names]},
made once and then kept, so that every model trained on fold N saw the same cases. Here the unit
that is split is a *group* of cases, not a case: every version of a case (x, x_v2, ... exported
again from Slicer: same `base_case`) and every case whose image has the same voxels as another's
(the same scan under two names) fall in one group, so no scan is ever both trained and validated on.

    splits.json = {"format": 1, "seed": 0, "folds": [{"train": [...], "val": [...]}, ...],
                   "test": [...],            # held out of every fold (optional)
                   "groups": [[...], ...]}   # the groups of more than one case, for the record
A bare nnU-Net list of {"train", "val"} is read as well.
"""

import json
import re
from pathlib import Path

import numpy as np

from .errors import DatasetError, InputError

SPLITS_JSON = "splits.json"
SPLITS_FORMAT = 1
_VERSION_SUFFIX = re.compile(r"_v\d+$")


def group_key(case) -> str:
    """The name shared by every version of a case: its recorded base_case, else its name without _vN."""
    return str(case.metadata.get("base_case") or _VERSION_SUFFIX.sub("", case.name))


def case_groups(cases, digests=None) -> list:
    """[[case names]] in dataset order: cases joined by group_key and, when digests ({name: voxel
    digest}) are given, by identical image voxels."""
    parent = {c.name: c.name for c in cases}

    def find(name):
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    first_by = {}
    for case in cases:
        keys = [("base", group_key(case))]
        if digests and digests.get(case.name):
            keys.append(("voxels", digests[case.name]))
        for key in keys:
            if key in first_by:
                parent[find(case.name)] = find(first_by[key])
            else:
                first_by[key] = case.name
    groups = {}
    for case in cases:
        groups.setdefault(find(case.name), []).append(case.name)
    return list(groups.values())


def latest_versions(cases) -> tuple:
    """(kept, left out): of each group of versions of a case (case_groups, joined by name and by the image
    digest that add_case records), only the latest correction is kept, in dataset order. Training
    reads the kept ones, so a case exported three times counts once and is prepared once."""
    digests = {c.name: c.metadata.get("image_voxels_sha256") for c in cases if c.metadata.get("image_voxels_sha256")}
    order = {c.name: i for i, c in enumerate(cases)}  # dataset.json lists cases in the order they were added
    kept = {max(group, key=order.get) for group in case_groups(cases, digests)}
    return [c for c in cases if c.name in kept], [c for c in cases if c.name not in kept]


def image_digests(cases) -> dict:
    """{case name: voxel digest of its image} (unreadable images are left out; dataset check reports them)."""
    import SimpleITK as sitk

    from .datasets import voxel_sha256

    digests = {}
    for case in cases:
        try:
            digests[case.name] = voxel_sha256(sitk.ReadImage(str(case.image_path)))
        except RuntimeError:
            continue
    return digests


def splits_path(dataset_dir) -> Path:
    return Path(dataset_dir) / SPLITS_JSON


def read_splits(dataset_dir):
    """{"folds": [{"train", "val"}], "test": [...], ...} of splits.json, or None when there is none."""
    path = splits_path(dataset_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}): fix it or remove it and run 'radiowmhseg dataset split'") from exc
    if isinstance(data, list):  # nnU-Net's splits_final.json
        data = {"folds": data}
    folds = data.get("folds") if isinstance(data, dict) else None
    if (not isinstance(folds, list) or not folds
            or not all(isinstance(f, dict) and isinstance(f.get("train"), list) and isinstance(f.get("val"), list)
                       for f in folds)
            or not isinstance(data.get("test", []), list)):
        raise DatasetError(f"{path} must hold a list of folds, each with 'train' and 'val' case lists: "
                           "fix it or remove it and run 'radiowmhseg dataset split'")
    data = dict(data)
    data["folds"] = [{"train": [str(n) for n in f["train"]], "val": [str(n) for n in f["val"]]} for f in folds]
    data["test"] = [str(n) for n in data.get("test", [])]
    return data


def declared_test_cases(data: dict, case_names) -> list:
    """Training cases that dataset.json's own 'test' list names (by case name or as {'case': name})."""
    names = set(case_names)
    found = []
    for item in data.get("test", []) or []:
        name = item.get("case") if isinstance(item, dict) else item
        if isinstance(name, str) and name in names and name not in found:
            found.append(name)
    return found


def split_problems(splits: dict, cases, groups) -> list:
    """One clause per way the folds disagree with the dataset or mix a group across sides (the
    remedy, new folds, is the caller's to say)."""
    names = [c.name for c in cases]
    known = set(names)
    group_of = {name: i for i, group in enumerate(groups) for name in group}
    problems = []
    listed = set(splits["test"])
    for index, fold in enumerate(splits["folds"]):
        listed |= set(fold["train"]) | set(fold["val"])
    unknown = sorted(listed - known)
    if unknown:
        problems.append(f"splits.json names cases that are not in dataset.json: {', '.join(unknown[:5])}"
                        + (" ..." if len(unknown) > 5 else ""))
    nowhere = [n for n in names if n not in listed]
    if nowhere:
        problems.append(f"cases {', '.join(nowhere[:5])}{' ...' if len(nowhere) > 5 else ''} are in no fold of "
                        "splits.json (added after the split?)")
    test_groups = {group_of[n] for n in splits["test"] if n in group_of}
    for index, fold in enumerate(splits["folds"]):
        in_fold = set(fold["train"]) | set(fold["val"]) | set(splits["test"])
        missing = [n for n in names if n not in in_fold and n not in nowhere]
        if missing:
            problems.append(f"fold {index}: cases {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                            "are in neither its train nor val list (added after the split?)")
        train_groups = {group_of[n] for n in fold["train"] if n in group_of}
        for name in fold["val"]:
            if name in group_of and group_of[name] in train_groups:
                mates = [n for n in groups[group_of[name]] if n in fold["train"]]
                problems.append(f"fold {index}: case {name} is validated on while "
                                f"{'itself' if name in mates else 'its version/duplicate ' + ', '.join(mates)} is trained on")
        for side in ("train", "val"):
            for name in fold[side]:
                if name in group_of and group_of[name] in test_groups:
                    problems.append(f"fold {index}: case {name} is in the {side} list but it (or a version of it) "
                                    "is in the test list")
    return problems


def make_splits(dataset_dir, folds=5, seed=0, n_test=0, overwrite=False) -> dict:
    """Write splits.json: `folds` folds of whole groups, balanced in cases; returns what was written
    (plus 'path'). n_test cases (whole groups, at most that many) are held out of every fold, after
    the cases dataset.json's own 'test' list names."""
    from .datasets import load_dataset, read_dataset_json
    from .safe_write import atomic_write_json

    path = splits_path(dataset_dir)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists: models trained on its folds depend on it; "
                         "remove it or pass --overwrite to make new folds")
    dataset = load_dataset(dataset_dir, check_geometry=False)
    if folds < 2:
        raise InputError(f"{folds} folds cannot separate training from validation: ask for at least 2")
    groups = case_groups(dataset.cases, image_digests(dataset.cases))
    declared = set(declared_test_cases(read_dataset_json(dataset_dir), [c.name for c in dataset.cases]))
    rng = np.random.default_rng(int(seed))
    order = [groups[i] for i in rng.permutation(len(groups))]
    test, rest = [], []
    for group in order:
        if declared & set(group):
            test.extend(group)
    n_declared = len(test)
    for group in order:
        if declared & set(group):
            continue
        if n_test and len(test) - n_declared + len(group) <= n_test:
            test.extend(group)
        else:
            rest.append(group)
    if len(rest) < folds:
        raise InputError(f"{dataset.path} has {len(rest)} independent cases (versions and duplicates of a scan "
                         f"count once) outside the test list, too few for {folds} folds: ask for fewer folds")
    val_sets = [[] for _ in range(folds)]
    # Largest groups first (stable, so the shuffled order breaks ties), each to the smallest fold.
    for group in sorted(rest, key=len, reverse=True):
        min(val_sets, key=len).extend(group)
    dataset_order = {c.name: i for i, c in enumerate(dataset.cases)}
    in_folds = sorted((n for g in rest for n in g), key=dataset_order.get)
    fold_list = []
    for val in val_sets:
        val_names = set(val)
        train = [n for n in in_folds if n not in val_names]
        # Each fold's train list starts after its val cases (cyclically): training on "the first N" of a fold
        # (the experiment's sizes) then uses other cases in every fold rather than always the same ones.
        after = sum(1 for n in train if dataset_order[n] < max(dataset_order[v] for v in val))
        fold_list.append({"train": train[after:] + train[:after], "val": sorted(val, key=dataset_order.get)})
    data = {"format": SPLITS_FORMAT, "made_by": "radiowmhseg dataset split", "seed": int(seed),
            "folds": fold_list, "test": sorted(test, key=dataset_order.get),
            "groups": [sorted(g, key=dataset_order.get) for g in groups if len(g) > 1]}
    atomic_write_json(path, data, overwrite=overwrite)
    return dict(data, path=path)


def fold_case_names(dataset, fold: int) -> tuple:
    """(train names, val names) of fold `fold` of the dataset's splits.json, after checking that the
    split still matches dataset.json and keeps every case group on one side."""
    splits = read_splits(dataset.path)
    if splits is None:
        raise DatasetError(f"{dataset.path} has no {SPLITS_JSON}: make folds first with "
                           f"'radiowmhseg dataset split {dataset.path} --folds 5'")
    if not 0 <= int(fold) < len(splits["folds"]):
        raise InputError(f"fold {fold} does not exist: {splits_path(dataset.path)} has folds 0 to {len(splits['folds']) - 1}")
    problems = split_problems(splits, dataset.cases, case_groups(dataset.cases))
    if problems:
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise DatasetError(f"{splits_path(dataset.path)} does not fit the dataset ({problems[0]}{more}): make new folds "
                           f"with 'radiowmhseg dataset split {dataset.path} --overwrite'")
    chosen = splits["folds"][int(fold)]
    if not chosen["train"]:
        raise DatasetError(f"fold {fold} of {splits_path(dataset.path)} has no training cases: make new folds with "
                           f"'radiowmhseg dataset split {dataset.path} --overwrite'")
    return list(chosen["train"]), list(chosen["val"])
