"""The panel's background jobs (segment, fine-tune) through a process object: start, progress, Cancel, the end.

`JobLogic` owns no Qt. It is given a process that follows `ProcessProtocol`: in Slicer a QProcess
behind `slicer_qprocess.QtProcess`, in tests a fake. It writes the input, builds the command line
(background_job), turns output lines into progress and log lines, and at the end loads the result,
reports a cancel, or gives the job's one-line error; the job folder is removed in every case.
"""

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8
    Protocol = object

from . import background_job
from .choices import DEFAULT_STRATEGY, FINETUNE_DEFAULTS
from .errors import InputError

CANCEL_GRACE_SECONDS = 3.0  # after a Cancel, the watchdog has this long to stop the job before it is killed
ERROR_PREFIX = "radiowmhseg: error: "  # how cli.main reports an error a user can fix


class ProcessProtocol(Protocol):
    """What JobLogic needs of a process."""

    def start(self, program: str, arguments: List[str], environment: Dict[str, str],
              on_output: Callable[[str], None], on_finished: Callable[[int, bool], None]) -> None:
        """Start program; on_output(text) as output comes, on_finished(exit code, crashed) at the end.

        Raises RuntimeError when the program cannot be started."""

    def stop(self, grace_seconds: float) -> None:
        """Kill the process if it is still running after grace_seconds."""

    def wait(self, timeout_seconds: Optional[float] = None) -> bool:
        """Block until the process has finished (its callbacks called); False on time-out."""


@dataclass
class JobEnd:
    status: str  # "done", "cancelled" or "failed"
    message: str = ""
    result: Any = None  # what the job's on-success step returned (the segmentation node)


class JobLogic:
    """One job at a time; log(line), progress(fraction, message) and finished(JobEnd) report to the panel."""

    def __init__(self, process, temporary_dir=None, log=None, progress=None, finished=None):
        self.process = process
        self.temporary_dir = temporary_dir
        self.log = log or logging.info
        self.progress = progress or (lambda fraction, message="": None)
        self.finished = finished or (lambda end: None)
        self._job = None
        self._pending = ""
        self._lines = []

    @property
    def busy(self) -> bool:
        return self._job is not None

    def start_segmentation(self, logic, volume_node, options, finished=None):
        """Segment volume_node in a background job with segment_options.SegmentOptions options."""
        job_dir = self._new_job_dir("RadioWMHSeg-")
        try:
            arguments, outputs = background_job.segment_job(logic.writeInput(volume_node, job_dir), job_dir, options)
        except Exception:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        self._start(arguments, job_dir, lambda: logic.loadJobResult(volume_node, outputs, options), finished)

    def start_finetune(self, dataset_dir, run_dir, *, from_model=None, strategy=DEFAULT_STRATEGY,
                       epochs=FINETUNE_DEFAULTS["epochs"], device="auto", on_success=None, finished=None):
        """Fine-tune on a dataset folder in a background job; on_success() runs when it ends well."""
        arguments = background_job.finetune_job(dataset_dir, run_dir, from_model=from_model, strategy=strategy,
                                                epochs=epochs, device=device)
        self._start(arguments, self._new_job_dir("RadioWMHSeg-finetune-"), on_success or (lambda: None), finished)

    def start_rank(self, inputs, results_dir, options, on_success=None, finished=None):
        """Segment FLAIRs with uncertainty into results_dir and rank them (`radiowmhseg rank`) in a background job."""
        arguments = background_job.rank_job(inputs, results_dir, options)
        self._start(arguments, self._new_job_dir("RadioWMHSeg-rank-"), on_success or (lambda: None), finished)

    def cancel(self):
        """Ask the running job to stop (its watchdog ends it at once); kill it if it has not stopped in time."""
        if self._job is None:
            return
        self._job["cancelled"] = True
        background_job.request_cancel(self._job["dir"] / "CANCEL")
        self.log("Cancel requested.")
        self.process.stop(CANCEL_GRACE_SECONDS)

    def wait(self, timeout_seconds=None) -> bool:
        """Block until the running job has ended (for scripts and the self-test; the panel does not wait)."""
        return self._job is None or self.process.wait(timeout_seconds)

    def _new_job_dir(self, prefix) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.temporary_dir))

    def _start(self, arguments, job_dir, on_success, finished):
        if self._job is not None:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise InputError("a job is already running: wait for it to end or press Cancel")
        program, *args = background_job.command_line(arguments, job_dir / "CANCEL")
        self._job = {"dir": job_dir, "on_success": on_success, "finished": finished or self.finished,
                     "cancelled": False}
        self._pending, self._lines = "", []
        self.log(" ".join([program] + args))
        try:
            self.process.start(program, args, background_job.job_environment(), self._on_output, self._on_finished)
        except Exception:
            self._job = None
            shutil.rmtree(job_dir, ignore_errors=True)
            raise

    def _on_output(self, text):
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()  # an unfinished line waits for the rest
        for line in lines:
            self._on_line(line.rstrip("\r"))

    def _on_line(self, line):
        progress = background_job.parse_progress(line)
        if progress:
            self.progress(*progress)
        if line.strip() and "%|" not in line:  # progress-bar redraws would flood the log
            self.log(line)
            self._lines = (self._lines + [line])[-50:]

    def _on_finished(self, exit_code, crashed=False):
        if self._pending:
            self._on_line(self._pending)
            self._pending = ""
        job, self._job = self._job, None
        if job is None:
            return
        try:
            if job["cancelled"] or exit_code == background_job.CANCELLED_EXIT_CODE:
                end = JobEnd("cancelled", "Stopped: nothing was kept.")
            elif crashed:
                end = JobEnd("failed", "The job stopped unexpectedly: see the log.")
            elif exit_code != 0:
                end = JobEnd("failed", self._error_message(exit_code))
            else:
                try:
                    end = JobEnd("done", result=job["on_success"]())
                except Exception as exc:  # a result that cannot be loaded is reported, not raised into Qt
                    logging.exception("loading the job's result failed")
                    end = JobEnd("failed", f"The result could not be loaded: {exc}")
        finally:
            shutil.rmtree(job["dir"], ignore_errors=True)
        if end.status == "done":
            self.progress(1.0, "done")
        job["finished"](end)

    def _error_message(self, exit_code) -> str:
        for line in reversed(self._lines):
            if line.startswith(ERROR_PREFIX):
                return line[len(ERROR_PREFIX):]
        errors = [line for line in self._lines if "error" in line.lower()]
        return errors[-1] if errors else f"The job failed (exit code {exit_code}): see the log."
