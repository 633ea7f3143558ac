"""`radiowmhseg import-msd`: MSD Task01_BrainTumour into the dataset layout (FLAIR channel, tumour = label 1)."""


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name, help="import the Medical Segmentation Decathlon brain-tumour task as a dataset folder",
        description="Read Task01_BrainTumour (4D imagesTr/BRATS_xxx.nii.gz, channel 0 = FLAIR; labelsTr/BRATS_xxx.nii.gz) "
                    "and write it as a dataset (space 'native', every tumour label binarised to 1).")
    p.add_argument("source", metavar="SRC", help="extracted Task01_BrainTumour folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="new (or empty) dataset folder")
    p.add_argument("--resume", action="store_true", help="add only the cases missing from an interrupted import")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..datasets import import_msd, load_dataset

    path = import_msd(args.source, args.output, resume=args.resume, progress=not args.quiet)
    print(f"imported {len(load_dataset(path, check_geometry=False).cases)} MSD cases into {path}")
    return 0
