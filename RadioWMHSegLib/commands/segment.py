"""`radiowmhseg segment`: FLAIR file(s) to WMH mask(s) on the input grid."""

import argparse
import sys
from pathlib import Path

from ..choices import (DEFAULT_MIN_LESION_MM3, DEFAULT_SEGMENT_PRECISION, DEFAULT_SKULL_STRIP_METHOD, DEFAULT_THRESHOLD,
                       DEFAULT_TTA, DEVICE_CHOICES, IMAGE_ENDINGS, PRECISIONS, SKULL_STRIP_METHODS)
from ..errors import InputError


def add_parser(subparsers, name):
    p = subparsers.add_parser(
        name,
        help="segment WMH in a FLAIR, a folder of FLAIRs or a list of them",
        description="Segment white-matter hyperintensities. One INPUT file (or DICOM folder) writes the "
        "outputs named; several inputs or a folder of cases is a cohort: -o is then a folder, one bad case "
        "is reported without stopping the others, and cases already done with the same model and settings are "
        "skipped on a rerun (--overwrite redoes them). Flags without a value (--prob, --brain-mask, --uncertainty, "
        "--pathology-mask) go after INPUT.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="FLAIR file (.nii.gz .nii .nrrd .mha), DICOM folder, or folder of cases")
    p.add_argument("-o", "--output", required=True, help="output mask file (one case) or output folder (cohort)")
    p.add_argument("--prob", nargs="?", const=True, metavar="FILE",
                   help="also write the probability map (one case: FILE, or next to -o without one; cohort: a flag)")
    p.add_argument("--brain-mask", nargs="?", const=True, metavar="FILE",
                   help="also write the brain mask (one case: FILE, or next to -o without one; cohort: a flag)")
    p.add_argument("--uncertainty", nargs="?", const=True, metavar="FILE",
                   help="also write the voxel-wise uncertainty (spread of the 4 test-time flips; implies --tta) and put "
                   "the case's uncertainty score in the --stats JSON (one case: FILE, or next to -o; cohort: a flag)")
    p.add_argument("--pathology-mask", nargs="?", const=True, metavar="FILE",
                   help="also write the other-pathology mask (tumour, oedema, cavity; label 2) of a 3-class model "
                   "(one case: FILE, or next to -o; cohort: a flag)")
    p.add_argument("--stats", help="lesion statistics file: .json (everything) or .csv (one row per lesion)")
    p.add_argument("--png", help="PNG of a few slices with the mask overlaid (one case)")
    p.add_argument("--reference", help="a true mask on the input grid: print Dice and the other metrics (one case)")
    add_segmentation_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (cohort: redo the cases already done)")
    p.set_defaults(run=run)
    return p


def add_segmentation_options(p):
    """The options that shape a segmentation (segment, rank): read back by _options(args)."""
    p.add_argument("--skull-stripped", action="store_true", help="the input is already skull-stripped")
    p.add_argument("--skull-strip-method", default=DEFAULT_SKULL_STRIP_METHOD, choices=SKULL_STRIP_METHODS,
                   help="auto: HD-BET; template: the registered MNI brain mask (faster, keeps some scalp)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--model", help="model folder (default: the bundled model)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"probability threshold (default {DEFAULT_THRESHOLD:g})")
    p.add_argument("--min-lesion-mm3", type=float, default=DEFAULT_MIN_LESION_MM3,
                   help=f"smallest lesion kept, in mm3 (default {DEFAULT_MIN_LESION_MM3:g})")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=DEFAULT_TTA,
                   help="test-time flipping: 4 network passes averaged (default on; --no-tta is about 4x faster "
                   "on the network, with more false specks)")
    p.add_argument("--precision", default=DEFAULT_SEGMENT_PRECISION, choices=PRECISIONS,
                   help=f"network arithmetic (default {DEFAULT_SEGMENT_PRECISION}; auto: bf16 only where this machine "
                   "computes it faster, fp32 elsewhere and on a GPU)")
    p.add_argument("--channel", type=int, help="channel to use from a 4D or multi-component image")


def _options(args):
    return {
        "skull_stripped": args.skull_stripped,
        "skull_strip_method": args.skull_strip_method,
        "threshold": args.threshold,
        "min_lesion_mm3": args.min_lesion_mm3,
        "tta": args.tta,
        "precision": args.precision,
        "channel": args.channel,
    }


def _is_cohort(args):
    return len(args.inputs) > 1 or (Path(args.inputs[0]).is_dir() and not _looks_like_dicom(args.inputs[0]))


def _looks_like_dicom(folder):
    from ..image_io import dicom_series_ids

    return bool(dicom_series_ids(folder))


def _next_to(output, suffix):
    """wmh.nii.gz -> wmh_prob.nii.gz: the name of a --prob or --brain-mask given without a file."""
    output = Path(output)
    for ending in IMAGE_ENDINGS:
        if output.name.lower().endswith(ending):
            return output.with_name(output.name[: -len(ending)] + suffix + output.name[-len(ending):])
    return output.with_name(output.name + suffix + ".nii.gz")


def _print_metrics(metrics):
    keys = ("dsc", "sensitivity", "precision", "hd95", "lesion_f1")
    print("vs reference: " + ", ".join(f"{k} {metrics[k]:.3f}" for k in keys if k in metrics))


def run(args) -> int:
    from ..cohort import segment_cohort
    from ..segment import segment

    options = _options(args)
    if not _is_cohort(args):
        def progress(fraction, message=""):
            print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)

        prob = _next_to(args.output, "_prob") if args.prob is True else args.prob
        brain_mask = _next_to(args.output, "_brainmask") if args.brain_mask is True else args.brain_mask
        uncertainty = _next_to(args.output, "_uncertainty") if args.uncertainty is True else args.uncertainty
        pathology = _next_to(args.output, "_other_pathology") if args.pathology_mask is True else args.pathology_mask
        result = segment(args.inputs[0], args.output, prob=prob, brain_mask=brain_mask, stats=args.stats,
                         png=args.png, reference=args.reference, uncertainty=uncertainty, pathology_mask=pathology,
                         overwrite=args.overwrite, model=args.model, device=args.device, progress=progress, **options)
        warnings = result.record.get("quality", {}).get("warnings", [])
        doubt = f"; {len(warnings)} warning(s) above: check the result" if warnings else ""
        print(f"{args.output}: WMH {result.stats.total_volume_ml:.2f} mL in {result.stats.count} lesions "
              f"({result.record['seconds']:.1f} s on {result.record['device']}{doubt})")
        if result.uncertainty_score is not None:
            score = result.uncertainty_score
            print(f"uncertainty: {score['uncertain_volume_ml']:.2f} mL uncertain ({score['uncertain_fraction']:.0%} of "
                  f"WMH or uncertain), mean {score['mean_in_wmh']:.3f} in the WMH")
        if result.pathology_mask is not None:
            from ..lesion_stats import compute_lesion_stats

            print(f"other pathology: {compute_lesion_stats(result.pathology_mask).total_volume_ml:.2f} mL")
        if "metrics_vs_reference" in result.record:
            _print_metrics(result.record["metrics_vs_reference"])
        return 0
    if args.png or args.reference:
        raise InputError("--png and --reference are for one case; run them on a single INPUT")
    options.pop("channel")
    rows = segment_cohort(args.inputs, args.output, write_prob=bool(args.prob), write_brain_mask=bool(args.brain_mask),
                          write_uncertainty=bool(args.uncertainty), write_pathology=bool(args.pathology_mask),
                          model=args.model, device=args.device, overwrite=args.overwrite, channel=args.channel,
                          **options)
    failed = [r for r in rows if r["status"] == "failed"]
    refused = [r for r in rows if r["status"] == "refused"]
    done = sum(r["status"] == "done" for r in rows)
    skipped = sum(r["status"] == "skipped" for r in rows)
    doubtful = sum(bool(r.get("warnings")) for r in rows if r["status"] in ("done", "skipped"))
    for row in refused + failed:
        print(f"radiowmhseg: {row['case']}: {row['message']}", file=sys.stderr)
    print(f"{done} segmented, {skipped} already done, {len(refused)} not redone (other settings), {len(failed)} failed, "
          f"{doubtful} with warnings; summary in {Path(args.output) / 'cohort_summary.csv'}")
    return 1 if failed or refused else 0
