"""`radiowmhseg import-brats`: BraTS training folders into the dataset layout (FLAIR, tumour = label 1)."""


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name, help="import BraTS FLAIR images and tumour masks as a dataset folder",
        description="Read BraTS 2018-2020 (<case>_flair.nii.gz, <case>_seg.nii.gz) or 2023 (<case>-t2f.nii.gz, "
                    "<case>-seg.nii.gz) case folders and write them as a dataset (space 'native', every tumour "
                    "label binarised to 1).")
    p.add_argument("source", metavar="SRC", help="extracted BraTS training-data folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="new (or empty) dataset folder")
    p.add_argument("--resume", action="store_true", help="add only the cases missing from an interrupted import")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..datasets import import_brats, load_dataset

    path = import_brats(args.source, args.output, resume=args.resume, progress=not args.quiet)
    print(f"imported {len(load_dataset(path, check_geometry=False).cases)} BraTS cases into {path}")
    return 0
