"""`radiowmhseg dataset create|add|remove|check|split`: build a training dataset from your own labelled scans and check it."""

import argparse
import sys
from pathlib import Path


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name,
        help="build a training dataset from your own image/mask pairs, check it, split it into folds",
        description="Bring your own labelled FLAIRs into the dataset layout that finetune and experiment read "
        "(dataset.json, imagesTr/, labelsTr/). Actions: create, add (one pair, a folder of case folders or a "
        "CSV manifest; every case is checked before anything of it is written), remove (cases out of training, their files moved aside, never deleted), check (every problem of a "
        "dataset; exit 1 if any), split (case-level folds in splits.json; finetune --fold N uses them).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    c = actions.add_parser("create", help="make an empty dataset folder",
                           description="Make DIR/dataset.json, imagesTr/ and labelsTr/ (space 'native').")
    c.add_argument("dataset", metavar="DIR", help="new (or empty) dataset folder")
    c.add_argument("--name", help="dataset name (default: the folder's name)")
    c.add_argument("--description", default="", help="one line about the data (site, scanner, annotation)")
    c.add_argument("--skull-stripped", action="store_true",
                   help="the cases are skull-stripped (the default of every case added later)")

    a = actions.add_parser(
        "add", help="add labelled cases: one pair, a folder of case folders, or a CSV manifest",
        description="Add image/mask pairs. One pair: IMAGE LABEL [--case NAME]. A folder of case folders: "
        "--cases-dir FOLDER, each sub-folder one case named after it, its files found by --image-pattern and "
        "--label-pattern (glob, may include a sub-folder; a pattern may name a DICOM series folder). A manifest: "
        "--csv FILE with the columns case,image,label (paths relative to the CSV), an optional skull_stripped "
        "column (yes/no), other columns kept as case metadata. Each case is checked first: image readable as a "
        "FLAIR, mask on the same grid (or --resample-label), labels 0/1/2/3 only (3: unscored, left out of "
        "training and validation), name not taken, image not already in the dataset; a refused case gets one "
        "line and nothing of it is written. A folder without "
        "dataset.json becomes a new dataset. Exit status 1 if a case was refused.")
    a.add_argument("dataset", metavar="DIR", help="dataset folder (made when it does not exist)")
    a.add_argument("image", nargs="?", metavar="IMAGE", help="FLAIR file or DICOM series folder (one pair)")
    a.add_argument("label", nargs="?", metavar="LABEL",
                   help="its mask: 0 background, 1 WMH, 2 other pathology, 3 unscored")
    a.add_argument("--case", help="case name for one pair (default: the image's file name)")
    a.add_argument("--cases-dir", metavar="FOLDER", help="folder of case folders")
    a.add_argument("--image-pattern", default="FLAIR.nii.gz", help="image inside a case folder (default FLAIR.nii.gz)")
    a.add_argument("--label-pattern", default="WMH.nii.gz", help="mask inside a case folder (default WMH.nii.gz)")
    a.add_argument("--csv", metavar="FILE", help="CSV manifest with the columns case,image,label")
    a.add_argument("--skull-stripped", action=argparse.BooleanOptionalAction, default=None,
                   help="record the cases as skull-stripped or not (default: the dataset's setting)")
    a.add_argument("--resample-label", action="store_true",
                   help="put a mask that is on another grid onto the image grid (nearest neighbour); reported per case")
    a.add_argument("--dry-run", action="store_true", help="check every case and report, write nothing")

    r = actions.add_parser(
        "remove", help="take cases out of a dataset; their files are moved aside, never deleted",
        description="Take the named cases out of dataset.json and move their files into DIR/removed/<time>/ with a "
        "removed.json that holds their entries, so they can be put back. A splits.json that names a removed "
        "case is moved there too; run 'dataset split' again.")
    r.add_argument("dataset", metavar="DIR", help="dataset folder")
    r.add_argument("cases", nargs="+", metavar="CASE", help="case names as dataset.json lists them")

    k = actions.add_parser("check", help="report every problem of a dataset (exit 1 if there is one)",
                           description="Read every case and report missing or unreadable files, masks off the "
                           "image grid, labels other than 0/1/2/3, the same scan under two names, and cases that "
                           "are both trained and validated/tested on (splits.json, test lists). Empty masks and "
                           "stray files are notes. Exit status 1 when there is a problem.")
    k.add_argument("dataset", metavar="DIR", help="dataset folder")

    s = actions.add_parser(
        "split", help="case-level folds in DIR/splits.json for finetune --fold / experiment --fold",
        description="Write DIR/splits.json (as nnU-Net's splits_final.json): K folds, each with train and val "
        "case lists. Versions of a case (x, x_v2: same base case) and identical scans stay on one side. "
        "--test N first holds up to N cases out of every fold (as do cases in dataset.json's own test list).")
    s.add_argument("dataset", metavar="DIR", help="dataset folder")
    s.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    s.add_argument("--seed", type=int, default=0, help="shuffling seed (default 0)")
    s.add_argument("--test", type=int, default=0, metavar="N", help="cases held out of every fold as a test list")
    s.add_argument("--overwrite", action="store_true", help="replace an existing splits.json")
    p.set_defaults(run=run)
    return p


def _create(args) -> int:
    from ..datasets import create_dataset

    path = create_dataset(args.dataset, args.name, space="native", skull_stripped=args.skull_stripped,
                          description=args.description)
    print(f"created dataset {path} (space native, skull-stripped: {'yes' if args.skull_stripped else 'no'}); "
          f"add cases with: radiowmhseg dataset add {path} ...")
    return 0


def _sources(args):
    from ..dataset_building import SourceCase, cases_from_csv, cases_from_folders, default_case_name
    from ..errors import InputError

    forms = [bool(args.image or args.label), bool(args.cases_dir), bool(args.csv)]
    if sum(forms) != 1:
        raise InputError("give one source: IMAGE LABEL, --cases-dir FOLDER or --csv FILE")
    if args.case and not forms[0]:
        raise InputError("--case names one pair: with --cases-dir the folder names are the case names, "
                         "with --csv the 'case' column")
    if forms[0]:
        if not (args.image and args.label):
            raise InputError("one pair needs both IMAGE and LABEL")
        name = args.case or default_case_name(args.image)
        return [SourceCase(name, Path(args.image), Path(args.label), origin="the command line")], []
    if args.cases_dir:
        return cases_from_folders(args.cases_dir, args.image_pattern, args.label_pattern)
    return cases_from_csv(args.csv)


def _add(args) -> int:
    from ..dataset_building import add_cases, format_report

    sources, refused = _sources(args)
    report = add_cases(args.dataset, sources, resample_label=args.resample_label,
                       skull_stripped=args.skull_stripped, dry_run=args.dry_run)
    lines = format_report(report, refused_before=refused)
    for line in lines[:-1]:
        print(line, file=sys.stderr if line.startswith("refused") else sys.stdout)
    print(lines[-1])
    return 1 if (report.refused or refused) else 0


def _remove(args) -> int:
    from ..dataset_removal import format_removal, remove_cases

    for line in format_removal(remove_cases(args.dataset, args.cases)):
        print(line)
    return 0


def _check(args) -> int:
    from ..dataset_check import check_dataset

    report = check_dataset(args.dataset)
    for problem in report.problems:
        print(f"problem: {problem}")
    for note in report.notes:
        print(f"note: {note}")
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    print(f"{args.dataset}: {report.n_cases} case(s) checked, {verdict}, {len(report.notes)} note(s)")
    return 0 if report.ok else 1


def _split(args) -> int:
    from ..dataset_split import make_splits

    result = make_splits(args.dataset, folds=args.folds, seed=args.seed, n_test=args.test, overwrite=args.overwrite)
    for index, fold in enumerate(result["folds"]):
        print(f"fold {index}: {len(fold['train'])} train, {len(fold['val'])} val ({', '.join(fold['val'])})")
    if result["test"]:
        print(f"test (in no fold): {', '.join(result['test'])}")
    for group in result["groups"]:
        print(f"kept together: {', '.join(group)}")
    print(f"wrote {result['path']}; train on a fold with: radiowmhseg finetune {args.dataset} --fold 0 -o RUN_DIR")
    return 0


def run(args) -> int:
    return {"create": _create, "add": _add, "remove": _remove, "check": _check, "split": _split}[args.action](args)
