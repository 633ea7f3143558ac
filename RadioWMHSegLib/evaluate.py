"""Metrics of predicted masks against reference masks, over one pair of files or two folders.

Cases in folders are matched by name: `case.nii.gz` in the reference folder matches
`case.nii.gz`, `case_0000.nii.gz` (nnU-Net channel suffix) or `case_wmh.nii.gz` (what
`radiowmhseg segment` writes for a cohort) in the prediction folder.
"""

import math
import warnings
from pathlib import Path

from . import safe_write
from .choices import MASK_ENDINGS
from .errors import InputError
from .metrics import METRIC_KEYS, compute_metrics

# Name endings a prediction may carry after its case name.
PREDICTION_SUFFIXES = ("_0000", "_wmh")
# Files that `segment` writes next to the masks and that are not masks.
NOT_MASK_SUFFIXES = ("_wmh_prob", "_prob", "_brainmask")
MAX_NAMES_SHOWN = 5

# Columns of the printed table: (key, heading, decimals).
TABLE_COLUMNS = (
    ("dsc", "DSC", 3), ("sensitivity", "Sensitivity", 3), ("precision", "Precision", 3),
    ("hd95", "HD95 (mm)", 2), ("hd", "HD (mm)", 2), ("avd", "AVD (%)", 1),
    ("lesion_recall", "Lesion recall", 3), ("lesion_precision", "Lesion precision", 3),
    ("lesion_f1", "Lesion F1", 3), ("ref_volume_ml", "Ref (mL)", 2), ("pred_volume_ml", "Pred (mL)", 2),
)


def _read_mask(path):
    """Read a label file with the project's checks when image_io provides them."""
    try:
        from .image_io import read_label
    except ImportError:
        read_label = None
    if read_label is not None:
        return read_label(path)
    import SimpleITK as sitk

    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read {path} as an image ({str(exc).strip().splitlines()[-1]}): check the file") from exc


def _strip_ending(name: str):
    for ending in MASK_ENDINGS:
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return None


def _strip_ending_0000(stem: str) -> str:
    return stem[: -len("_0000")] if stem.endswith("_0000") else stem


def _image_files(folder: Path) -> dict:
    """Case name -> path of the image files in a folder (hidden files skipped)."""
    files = {}
    for path in sorted(folder.iterdir()):
        stem = _strip_ending(path.name)
        if path.is_file() and stem is not None and not path.name.startswith("."):
            files[stem] = path
    return files


def _reference_name(stem: str, reference_names) -> str:
    """The reference case a prediction stem belongs to, or the stem itself when none does."""
    if stem in reference_names:
        return stem
    for suffix in PREDICTION_SUFFIXES:
        if stem.endswith(suffix) and stem[: -len(suffix)] in reference_names:
            return stem[: -len(suffix)]
    return stem


def _shown(names) -> str:
    names = sorted(names)
    more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
    return ", ".join(names[:MAX_NAMES_SHOWN]) + more


def match_cases(pred_dir, ref_dir, allow_missing=False) -> list:
    """[(case, prediction path, reference path)] for two folders, sorted by case.

    A reference case without a prediction is an error unless allow_missing (then a warning);
    a prediction without a reference is a warning.
    """
    pred_dir, ref_dir = Path(pred_dir), Path(ref_dir)
    references = {_strip_ending_0000(stem): path for stem, path in _image_files(ref_dir).items()}
    if not references:
        raise InputError(f"the reference folder {ref_dir} holds no images (.nii.gz, .nii, .nrrd, .mha): check the path")
    predictions, unmatched = {}, []
    for stem, path in _image_files(pred_dir).items():
        case = _reference_name(stem, references)
        if case in references and case not in predictions:
            predictions[case] = path
        elif not stem.endswith(NOT_MASK_SUFFIXES):
            unmatched.append(path.name)
    if not predictions:
        raise InputError(f"no prediction in {pred_dir} matches a reference case in {ref_dir} (e.g. "
                         f"{_shown(references)}): name predictions like the references, e.g. case.nii.gz")
    missing = sorted(set(references) - set(predictions))
    if missing and not allow_missing:
        raise InputError(f"{len(missing)} reference case(s) have no prediction in {pred_dir}: {_shown(missing)}; "
                         "segment them first, or pass --allow-missing to evaluate the others")
    if missing:
        warnings.warn(f"{len(missing)} reference case(s) have no prediction and are left out: {_shown(missing)}",
                      stacklevel=2)
    if unmatched:
        warnings.warn(f"{len(unmatched)} prediction file(s) have no reference and are left out: {_shown(unmatched)}",
                      stacklevel=2)
    return [(case, predictions[case], references[case]) for case in sorted(predictions)]


def evaluate_paths(pred, ref, *, surface="in_plane", allow_missing=False) -> list:
    """One row per case: {"case", metrics...}. pred and ref: two mask files or two folders."""
    pred, ref = Path(pred), Path(ref)
    for name, path in (("prediction", pred), ("reference", ref)):
        if not path.exists():
            raise InputError(f"the {name} path {path} does not exist: check it")
    if pred.is_dir() != ref.is_dir():
        raise InputError(f"give two files or two folders, not a {'folder' if pred.is_dir() else 'file'} of "
                         f"predictions and a {'folder' if ref.is_dir() else 'file'} of references")
    if pred.is_dir():
        cases = match_cases(pred, ref, allow_missing=allow_missing)
    else:
        cases = [(_strip_ending_0000(_strip_ending(ref.name) or ref.stem), pred, ref)]
    rows = []
    for case, pred_path, ref_path in cases:
        try:
            metrics = compute_metrics(_read_mask(pred_path), _read_mask(ref_path), surface=surface)
        except InputError as exc:
            raise InputError(f"case {case}: {exc}") from exc
        rows.append({"case": case, **metrics})
    return rows


def _defined(values) -> list:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def summarise(rows) -> dict:
    """{metric: {"mean", "sd", "n"}} over the cases where the metric is defined (NaN left out).

    sd is the sample standard deviation (n - 1); NaN with fewer than two cases.
    """
    summary = {}
    for key in METRIC_KEYS:
        values = _defined(row[key] for row in rows if key in row)
        n = len(values)
        mean = sum(values) / n if n else float("nan")
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
        summary[key] = {"mean": mean, "sd": sd, "n": n}
    return summary


def _cell(value, decimals) -> str:
    if value is None or math.isnan(float(value)):
        return "n/a"
    return f"{float(value):.{decimals}f}"


def format_table(rows) -> str:
    """Markdown table, one line per case and a last line of mean ± sd."""
    header = "| Case | " + " | ".join(heading for _, heading, _ in TABLE_COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(TABLE_COLUMNS)
    lines = [header, rule]
    for row in rows:
        lines.append(f"| {row['case']} | " + " | ".join(_cell(row.get(k), d) for k, _, d in TABLE_COLUMNS) + " |")
    summary = summarise(rows)
    cells = []
    for key, _, decimals in TABLE_COLUMNS:
        mean, sd = summary[key]["mean"], summary[key]["sd"]
        cells.append(_cell(mean, decimals) if math.isnan(sd) else f"{_cell(mean, decimals)} ± {_cell(sd, decimals)}")
    lines.append(f"| **mean ± sd** (n={len(rows)}) | " + " | ".join(cells) + " |")
    partial = [f"{heading} over {summary[key]['n']}" for key, heading, _ in TABLE_COLUMNS
               if summary[key]["n"] < len(rows)]
    if partial:
        lines.append("")
        lines.append("n/a: undefined for that case (an empty mask, see docs/metrics.md); means use only the defined "
                     "cases: " + ", ".join(partial) + ".")
    return "\n".join(lines) + "\n"


def _json_ready(value):
    # JSON has no NaN: undefined metrics become null.
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


def write_csv(rows, path, overwrite=False) -> Path:
    """One line per case; undefined metrics are written as empty cells."""
    # _json_ready makes NaN None, which the CSV writer leaves empty.
    return safe_write.atomic_write_csv(path, [_json_ready(dict(row)) for row in rows], ["case", *METRIC_KEYS],
                                       overwrite=overwrite)


def write_json(rows, path, overwrite=False) -> Path:
    """{"cases": rows, "summary": summarise(rows)}, undefined metrics as null."""
    document = {"cases": [dict(row) for row in rows], "summary": summarise(rows)}
    return safe_write.atomic_write_json(path, _json_ready(document), overwrite=overwrite)
