"""`radiowmhseg synth`: write a cohort of synthetic FLAIR cases with WMH labels (dataset layout)."""

from ..choices import PHENOTYPES

PHENOTYPE_CHOICES = PHENOTYPES + ("mixed",)  # mixed: one phenotype drawn per case


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name, help="generate synthetic FLAIR cases with lesion labels on the MNI crop grid",
        description="Generate a cohort of synthetic FLAIR images with WMH (label 1) and other pathology "
                    "(label 2) labels, written as a dataset folder (imagesTr/, labelsTr/, dataset.json).")
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="new (or empty) folder for the dataset")
    p.add_argument("--n", type=int, default=10, help="number of cases (default 10)")
    p.add_argument("--phenotype", choices=PHENOTYPE_CHOICES, default="radiation",
                   help="lesion pattern: radiation leukoencephalopathy, MS, treated glioma, or a random mix (default radiation)")
    p.add_argument("--seed", type=int, default=0, help="cohort seed: the same seed gives the same cases (default 0)")
    p.add_argument("--skull", action="store_true", help="keep a synthetic skull and scalp (default: skull-stripped)")
    p.add_argument("--lesion-bank", metavar="DIR", default=None,
                   help="folder of real lesion masks in MNI space used for the 'ms' phenotype")
    p.add_argument("--thick-slice-probability", type=float, default=0.3, metavar="P",
                   help="chance that a case mimics a 3-7 mm thick-slice 2D acquisition (default 0.3)")
    p.add_argument("--name", default=None, help="dataset name written in dataset.json (default: folder name)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted generation in OUTPUT_DIR")
    p.add_argument("--no-hard-negatives", action="store_true",
                   help="leave out the normal bright structures that are not WMH (bright cortex, septum, choroid "
                   "plexus, CSF flow artefacts, thin caps; painted into a share of the cases by default)")
    p.add_argument("--severity", type=float, nargs="+", metavar="S", default=None,
                   help="radiation-induced WMH severity, 0 (mild) to 1 (severe confluent): one value, or LOW HIGH "
                   "drawn uniformly per case (default: drawn per case, mostly mild to moderate). With 'glioma' every "
                   "case then has radiation WMH of that severity beside the tumour; the 'ms' cases of a mix ignore it")
    p.add_argument("--wmh-contrast", type=float, nargs="+", metavar="C", default=None,
                   help="WMH brightness relative to white matter: one value, or LOW HIGH drawn uniformly per case, "
                   "e.g. 1.05 1.2 for faint WMH (default: drawn per case, 1.2-1.9 and in 15 %% of cases 1.08-1.2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..synth import generate_cohort

    path = generate_cohort(args.output_dir, args.n, args.phenotype, args.seed, skull=args.skull,
                           lesion_bank=args.lesion_bank, thick_slice_probability=args.thick_slice_probability,
                           name=args.name, progress=not args.quiet, resume=args.resume,
                           hard_negatives=not args.no_hard_negatives, severity=args.severity,
                           wmh_contrast=args.wmh_contrast)
    print(f"wrote {args.n} synthetic cases to {path}")
    return 0
