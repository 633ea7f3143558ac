"""`radiowmhseg import-brats` and `import-msd`: public glioma datasets into the dataset layout (FLAIR,
whole tumour as one label). The two differ only in the folder layout they read."""

# Subcommand -> (importer in datasets.py, its name in messages, help, description, what SRC is)
IMPORTERS = {
    "import-brats": (
        "import_brats", "BraTS", "import BraTS FLAIR images and tumour masks as a dataset folder",
        "Read BraTS 2018-2020 (<case>_flair.nii.gz, <case>_seg.nii.gz) or 2023 (<case>-t2f.nii.gz, <case>-seg.nii.gz) "
        "case folders and write them as a dataset (space 'native', every tumour label binarised).",
        "extracted BraTS training-data folder"),
    "import-msd": (
        "import_msd", "MSD", "import the Medical Segmentation Decathlon brain-tumour task as a dataset folder",
        "Read Task01_BrainTumour (4D imagesTr/BRATS_xxx.nii.gz, channel 0 = FLAIR; labelsTr/BRATS_xxx.nii.gz) and "
        "write it as a dataset (space 'native', every tumour label binarised).",
        "extracted Task01_BrainTumour folder"),
}


def add_parser(subparsers, name):
    importer, what, help_text, description, source_help = IMPORTERS[name]
    p = subparsers.add_parser(name, help=help_text, description=description)
    p.add_argument("source", metavar="SRC", help=source_help)
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="new (or empty) dataset folder")
    p.add_argument("--resume", action="store_true", help="add only the cases missing from an interrupted import")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tumour-as-pathology", action="store_true",
                   help="write the tumour as label 2 (tumour / oedema / cavity, not WMH), the class a three-class "
                        "model learns, instead of label 1 (the published recipe's source hyperintensity)")
    p.set_defaults(run=run, importer=importer, what=what)
    return p


def run(args) -> int:
    from .. import datasets

    tumour_label = datasets.LABELS["other_pathology" if args.tumour_as_pathology else "WMH"]
    path = getattr(datasets, args.importer)(args.source, args.output, resume=args.resume, progress=not args.quiet,
                                             tumour_label=tumour_label)
    cases = len(datasets.load_dataset(path, check_geometry=False).cases)
    print(f"imported {cases} {args.what} cases into {path} (tumour = label {tumour_label})")
    return 0
