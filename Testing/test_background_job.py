"""The background job runner the Slicer panel starts (RadioWMHSegLib.background_job): the progress lines it reads,
the arguments it passes (those the command line accepts), and Cancel, before a job starts and in the middle of one
(a real subprocess)."""

import subprocess
import sys

import pytest
import SimpleITK as sitk

from conftest import oblique_left_handed_volume
from RadioWMHSegLib import background_job
from RadioWMHSegLib.segment_options import SegmentOptions


# ---------------------------------------------------------------- background jobs

def test_progress_lines_of_segment_and_training_are_understood():
    assert background_job.parse_progress("[ 42.0%] registering to MNI") == (pytest.approx(0.42), "registering to MNI")
    assert background_job.parse_progress("epoch 3/20:  50%|#####     | 50/100")[0] == pytest.approx(0.125)
    assert background_job.parse_progress("epoch 3/20: loss 0.41 val Dice 0.62")[0] == pytest.approx(0.15)
    assert background_job.parse_progress("loading the model") is None


def test_job_arguments_are_those_the_command_line_accepts(tmp_path):
    from RadioWMHSegLib.cli import build_parser

    parser = build_parser()
    options = SegmentOptions(skull_stripped=True, device="cpu", threshold=0.4, min_lesion_mm3=5, model=tmp_path / "m",
                             probability=True)
    arguments, outputs = background_job.segment_job(tmp_path / "in.nrrd", tmp_path, options)
    parsed = parser.parse_args(arguments)
    assert (parsed.output, parsed.stats, parsed.prob) == tuple(str(outputs[k]) for k in ("mask", "stats", "probability"))
    assert (parsed.threshold, parsed.min_lesion_mm3, parsed.skull_stripped, parsed.device) == (0.4, 5.0, True, "cpu")
    finetune = parser.parse_args(background_job.finetune_job(tmp_path / "ds", tmp_path / "run", from_model=tmp_path / "m",
                                                             strategy="decoder", epochs=3))
    assert (finetune.dataset, finetune.source_model, finetune.strategy, finetune.epochs) == (
        str(tmp_path / "ds"), str(tmp_path / "m"), "decoder", 3)


def run_job(arguments, cancel_file, **kwargs):
    return subprocess.Popen(background_job.command_line(arguments, cancel_file, python=sys.executable),
                            env=background_job.job_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


def test_a_job_stops_when_cancel_is_asked_and_leaves_no_output(tmp_path):
    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.network import AttentionVNet

    net = AttentionVNet(channels=(2, 4), convs=(1, 1))
    model = model_io.save_model(net, model_io.new_card(net, "tiny"), tmp_path / "models", "tiny")
    flair = oblique_left_handed_volume(shape=(40, 44, 36))
    sitk.WriteImage(flair, str(tmp_path / "in.nrrd"))
    arguments, outputs = background_job.segment_job(tmp_path / "in.nrrd", tmp_path / "out",
                                                    SegmentOptions(device="cpu", model=model))
    cancel_file = tmp_path / "CANCEL"
    job = run_job(arguments, cancel_file)
    lines = []
    for line in job.stdout:  # cancel as soon as the job reports progress: it is then mid-work
        lines.append(line)
        if background_job.parse_progress(line):
            background_job.request_cancel(cancel_file)
            break
    assert job.wait(timeout=60) == background_job.CANCELLED_EXIT_CODE, "".join(lines) + job.stdout.read()
    assert not outputs["mask"].exists() and not outputs["stats"].exists()


def test_a_job_cancelled_before_it_starts_does_nothing(tmp_path):
    cancel_file = tmp_path / "CANCEL"
    background_job.request_cancel(cancel_file)
    job = run_job(["info"], cancel_file)
    assert job.wait(timeout=60) == background_job.CANCELLED_EXIT_CODE
