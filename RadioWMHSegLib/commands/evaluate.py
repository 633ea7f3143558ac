"""`radiowmhseg evaluate PRED REF`: WMH-challenge metrics of predicted masks, printed as a table."""

import sys
import warnings


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name,
        help="metrics (DSC, HD95, AVD, lesion recall/F1) of predicted masks against reference masks",
        description="Compare predicted WMH masks with reference masks using the WMH Segmentation Challenge "
                    "2017 metrics. PRED and REF are two mask files, or two folders whose cases are matched by "
                    "name (case.nii.gz, case_0000.nii.gz or case_wmh.nii.gz). Reference voxels labelled 2 "
                    "(other pathology) are left out. See docs/metrics.md.",
    )
    p.add_argument("pred", metavar="PRED", help="predicted mask file, or folder of them")
    p.add_argument("ref", metavar="REF", help="reference label file, or folder of them")
    p.add_argument("--csv", metavar="FILE", help="also write one line per case to this CSV file")
    p.add_argument("--json", metavar="FILE", help="also write the cases and the summary to this JSON file")
    p.add_argument("--surface", choices=("in_plane", "3d"), default="in_plane",
                   help="lesion boundary for HD/HD95: in_plane (the challenge's, default) or 3d (as MONAI)")
    p.add_argument("--allow-missing", action="store_true",
                   help="evaluate the cases that have a prediction even if some reference cases have none")
    p.add_argument("--overwrite", action="store_true", help="replace existing CSV/JSON files")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..evaluate import evaluate_paths, format_table, write_csv, write_json

    for output in (args.csv, args.json):
        if output and Path(output).exists() and not args.overwrite:
            raise InputError(f"{output} already exists: choose another name, remove it, or pass --overwrite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = evaluate_paths(args.pred, args.ref, surface=args.surface, allow_missing=args.allow_missing)
    for warning in caught:
        print(f"radiowmhseg: warning: {warning.message}", file=sys.stderr)
    print(format_table(rows), end="")
    if args.csv:
        print(f"wrote {write_csv(rows, args.csv, overwrite=args.overwrite)}")
    if args.json:
        print(f"wrote {write_json(rows, args.json, overwrite=args.overwrite)}")
    return 0
