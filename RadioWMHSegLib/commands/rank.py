"""`radiowmhseg rank`: cases ordered by the model's uncertainty, most uncertain first (which case to correct next)."""

from pathlib import Path

from ..choices import DEFAULT_UNCERTAINTY_SCORE, UNCERTAINTY_SCORES
from ..errors import InputError
from .segment import _options, add_segmentation_options


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name,
        help="order cases by the model's uncertainty, most uncertain first: which case to correct next",
        description="Rank the cases of a cohort by how unsure the model is of them (docs/uncertainty.md), so "
        "that annotators correct first the cases the model can learn most from. INPUT is the results folder of "
        "`radiowmhseg segment FOLDER -o RESULTS --uncertainty` (its stats JSONs are read), or FLAIRs / a folder "
        "of FLAIRs, which are segmented with uncertainty into --results first (cases already done there are "
        "skipped). Prints a table and writes a CSV.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="results folder, or FLAIR files / folders of them")
    p.add_argument("-o", "--output", metavar="CSV",
                   help="ranking CSV (default: uncertainty_ranking.csv in the results folder, replaced on each run)")
    p.add_argument("--results", metavar="FOLDER", help="where FLAIR inputs are segmented (needed for FLAIR inputs)")
    p.add_argument("--by", default=DEFAULT_UNCERTAINTY_SCORE, choices=UNCERTAINTY_SCORES,
                   help=f"score to rank by (default {DEFAULT_UNCERTAINTY_SCORE})")
    add_segmentation_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing -o file; redo cases done in --results with other settings")
    p.set_defaults(run=run)
    return p


def _check_csv(path: Path, overwrite: bool):
    from ..output_paths import check_writable_folder

    if not path.name.lower().endswith(".csv"):
        raise InputError(f"-o '{path.name}' does not end in .csv: give a file name such as uncertainty_ranking.csv")
    if path.is_dir():
        raise InputError(f"-o {path} is a folder: give a file name, such as {path / 'uncertainty_ranking.csv'}")
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists: choose another name, remove it, or pass --overwrite")
    check_writable_folder(path.parent, f"-o {path.name}")


def run(args) -> int:
    from .. import ranking

    given = [Path(p) for p in args.inputs]
    results_input = len(given) == 1 and ranking.is_results_folder(given[0])
    if results_input and args.results and Path(args.results).resolve() != given[0].resolve():
        raise InputError(f"{given[0]} is already a results folder: leave out --results, or give the FLAIRs instead")
    if not results_input and not args.results:
        raise InputError("the inputs are FLAIRs, not a results folder: give --results FOLDER for their segmentations")
    results = given[0] if results_input else Path(args.results)
    output = Path(args.output) if args.output else results / ranking.RANKING_CSV
    if args.output:
        _check_csv(output, args.overwrite)
    if results_input:
        rows = ranking.rank_results(results, args.by)
    else:
        options = _options(args)
        channel = options.pop("channel")
        rows, _ = ranking.rank_cohort(args.inputs, results, args.by, model=args.model, device=args.device,
                                      overwrite=args.overwrite, channel=channel, **options)
    print(ranking.format_table(rows, args.by))
    ranking.write_ranking(rows, output, overwrite=bool(args.overwrite or not args.output))
    ranked = sum(1 for r in rows if r.get("rank"))
    print(f"{ranked} case(s) ranked, {len(rows) - ranked} without a score; ranking in {output}")
    return 0 if ranked or not rows else 1
