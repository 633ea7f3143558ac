"""Segmentation and fine-tuning in a separate Python process, with progress lines and a real Cancel.

The Slicer panel must stay responsive while the network runs, and Cancel must stop the work even
in the middle of a long stage (registration, an epoch). So the panel starts

    PythonSlicer -m RadioWMHSegLib.background_job --cancel-file F -- <radiowmhseg arguments>

which runs the ordinary command line (`radiowmhseg segment ...`, `radiowmhseg finetune ...`) and a
watchdog thread that ends the process at once when the file F appears or when its parent process
goes away (Slicer's PythonSlicer launcher may be killed while the Python it started lives on).
Outputs are written atomically by the command itself, so a cancelled job leaves nothing half-done.
This module has no Qt: the panel reads the child's output lines and passes them to parse_progress.
"""

import argparse
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

from .choices import DEFAULT_STRATEGY, FINETUNE_DEFAULTS

CANCELLED_EXIT_CODE = 130  # what a shell reports for Ctrl-C: the job was stopped, not broken
CANCEL_POLL_SECONDS = 0.3

# "[ 42.0%] registering to MNI" (segment), "epoch 3/20:  45%|####  | 45/100" (training's progress bar)
# and "epoch 3/20: loss 0.41 val Dice 0.62" (end of an epoch).
_PERCENT = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*%\]\s*(.*)")
_EPOCH = re.compile(r"\bepoch\s+(\d+)\s*/\s*(\d+)(:?)", re.IGNORECASE)
_BAR_PERCENT = re.compile(r"(\d+)%\|")


def parse_progress(line: str):
    """(fraction of the whole job in 0..1, message) for a progress line of a job, else None."""
    line = line.strip()
    match = _PERCENT.search(line)
    if match:
        return min(1.0, float(match.group(1)) / 100.0), match.group(2).strip()
    match = _EPOCH.search(line)
    if match and int(match.group(2)) > 0:
        epoch, epochs = int(match.group(1)), int(match.group(2))
        bar = _BAR_PERCENT.search(line)
        if bar:
            done = epoch - 1 + int(bar.group(1)) / 100.0
        else:  # "epoch 3/20: ..." closes epoch 3; a bare "epoch 3/20" opens it
            done = epoch if match.group(3) else epoch - 1
        return min(1.0, max(0.0, done / epochs)), line
    return None


def library_parent() -> Path:
    """The folder holding the RadioWMHSegLib package, for the child's PYTHONPATH."""
    return Path(__file__).resolve().parent.parent


def python_executable() -> str:
    """PythonSlicer inside Slicer (same packages as Slicer), otherwise this Python."""
    slicer = sys.modules.get("slicer")
    if slicer is not None and hasattr(slicer, "app"):  # the Slicer application (slicer-core has no app)
        found = shutil.which("PythonSlicer")  # Slicer puts its bin folder on PATH
        if found:
            return found
    return sys.executable


def job_environment(base=None) -> dict:
    """Environment of the child: unbuffered output (progress arrives live), the library importable."""
    env = dict(os.environ if base is None else base)
    parts = [str(library_parent())] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def command_line(job_arguments, cancel_file, python=None) -> list:
    """Program and arguments that run `radiowmhseg <job_arguments>` under the Cancel watchdog."""
    return [python or python_executable(), "-m", "RadioWMHSegLib.background_job",
            "--cancel-file", str(cancel_file), "--", *[str(a) for a in job_arguments]]


def segment_job(input_path, output_dir, options=None) -> tuple:
    """(arguments of `radiowmhseg segment`, {output name: path}) writing into output_dir.

    options: a segment_options.SegmentOptions, the same object the in-process path takes.
    """
    from .segment_options import SegmentOptions

    options = options or SegmentOptions()
    output_dir = Path(output_dir)
    outputs = {"mask": output_dir / "wmh.nrrd", "stats": output_dir / "wmh_stats.json"}
    arguments = ["segment", str(input_path), "-o", str(outputs["mask"]), "--stats", str(outputs["stats"]),
                 *options.command_arguments()]
    if options.probability:
        outputs["probability"] = output_dir / "wmh_probability.nrrd"
        arguments += ["--prob", str(outputs["probability"])]
    if options.uncertainty:
        outputs["uncertainty"] = output_dir / "wmh_uncertainty.nrrd"
        arguments += ["--uncertainty", str(outputs["uncertainty"])]
    if _has_pathology_class(options):
        outputs["pathology"] = output_dir / "other_pathology.nrrd"
        arguments += ["--pathology-mask", str(outputs["pathology"])]
    return arguments, outputs


def _has_pathology_class(options) -> bool:
    from .errors import ModelError
    from .model_io import check_pathology_class

    try:
        check_pathology_class(options.model_folder())
    except ModelError:
        return False  # a 2-class model (or a model the job itself will refuse, in its own words)
    return True


def rank_job(inputs, results_dir, options=None) -> list:
    """Arguments of `radiowmhseg rank` segmenting FLAIRs into results_dir with these SegmentOptions, then ranking."""
    from .segment_options import SegmentOptions

    options = options or SegmentOptions()
    return ["rank", *[str(p) for p in inputs], "--results", str(results_dir), *options.command_arguments()]


def finetune_job(dataset_dir, run_dir, *, from_model=None, strategy=DEFAULT_STRATEGY, epochs=FINETUNE_DEFAULTS["epochs"],
                 device="auto") -> list:
    """Arguments of `radiowmhseg finetune` (the new model goes to the user's model folder)."""
    arguments = ["finetune", str(dataset_dir), "-o", str(run_dir), "--strategy", strategy, "--epochs", str(int(epochs)),
                 "--device", device]
    if from_model:
        arguments += ["--from", str(from_model)]
    return arguments


def request_cancel(cancel_file):
    """Ask a running job to stop (its watchdog sees the file within CANCEL_POLL_SECONDS)."""
    cancel_file = Path(cancel_file)
    cancel_file.parent.mkdir(parents=True, exist_ok=True)
    cancel_file.write_text("cancel\n", encoding="utf-8")


def _watch(cancel_file: Path, parent_pid: int):
    while True:
        orphaned = parent_pid > 1 and os.getppid() != parent_pid
        if cancel_file.exists() or orphaned:
            reason = "cancel requested" if cancel_file.exists() else "the program that started this job has gone"
            print(f"radiowmhseg: stopped ({reason})", file=sys.stderr, flush=True)
            os._exit(CANCELLED_EXIT_CODE)  # ends every thread now; outputs are atomic, so none is half-written
        time.sleep(CANCEL_POLL_SECONDS)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m RadioWMHSegLib.background_job",
                                     description="Run a radiowmhseg command that stops when a cancel file appears.")
    parser.add_argument("--cancel-file", required=True, help="the job stops as soon as this file exists")
    parser.add_argument("job", nargs=argparse.REMAINDER, help="-- then the radiowmhseg arguments")
    args = parser.parse_args(argv)
    job = args.job[1:] if args.job[:1] == ["--"] else args.job
    if not job:
        parser.error("no radiowmhseg command given after --")
    cancel_file = Path(args.cancel_file)
    if cancel_file.exists():
        print("radiowmhseg: stopped (cancel requested before the start)", file=sys.stderr, flush=True)
        return CANCELLED_EXIT_CODE
    threading.Thread(target=_watch, args=(cancel_file, os.getppid()), daemon=True).start()

    from .cli import main as cli_main

    return cli_main(job)


if __name__ == "__main__":
    sys.exit(main())
