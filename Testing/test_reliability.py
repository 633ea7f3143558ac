"""Nothing lost, nothing corrupt (issue 11): full disks (an ITK write that falls short, an OSError ENOSPC), interrupts,
and every output path checked before any work. segment_image is replaced by a fast stand-in (`fast_segment`,
conftest.py) where what a test checks happens before or after it. Bad inputs: test_bad_inputs.py; cohort reruns:
test_cohort_reruns.py. The table of bad inputs run through the real command line is benchmarks/bench_reliability.py.
"""

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from image_files import flair_like as _flair_like
from image_files import oblique_image as _oblique_image
from image_files import write_dicom_series as _write_dicom_series
from segment_stand_in import assert_one_sentence as _one_sentence
from RadioWMHSegLib import cli, safe_write
from RadioWMHSegLib import segment as segment_module
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.segment import segment

REPOSITORY = Path(__file__).resolve().parent.parent


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def _short_itk_writer(real_write, keep_bytes):
    """sitk.WriteImage as ITK behaves on a full disk: it prints a warning, returns, and the file is short."""
    def write(image, path, *args):
        real_write(image, path, *args)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[:keep_bytes])
    return write


# ---------------------------------------------------------------- safe_write on a full disk

@pytest.mark.parametrize("ending, keep", [(".nii.gz", 4096), (".nii.gz", 0), (".nii", 4096), (".nrrd", 300), (".mha", 300)])
def test_an_image_write_that_falls_short_is_refused_and_removed(tmp_path, monkeypatch, head, ending, keep):
    monkeypatch.setattr(sitk, "WriteImage", _short_itk_writer(sitk.WriteImage, keep))
    target = tmp_path / f"prob{ending}"
    with pytest.raises(InputError, match="incomplete .is the disk full") as caught:
        safe_write.atomic_write_image(sitk.Cast(head, sitk.sitkFloat32), target)
    _one_sentence(str(caught.value))
    assert not target.exists() and _leftovers(tmp_path) == []


def test_an_image_that_itk_writes_whole_is_kept(tmp_path, head):
    target = safe_write.atomic_write_image(head, tmp_path / "ok.nii.gz")
    assert sitk.ReadImage(str(target)).GetSize() == head.GetSize()


@pytest.mark.parametrize("code, match", [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "not writable"),
                                         (errno.EROFS, "not writable")])
def test_text_and_byte_writes_that_fail_say_why_in_one_sentence(tmp_path, monkeypatch, code, match):
    def failing(self, data):
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(InputError, match=match) as caught:
        safe_write.atomic_write_json(tmp_path / "stats.json", {"a": 1})
    _one_sentence(str(caught.value))

    def writer(tmp):
        raise OSError(code, os.strerror(code))

    with pytest.raises(InputError, match=match):
        safe_write.atomic_write_bytes_with(tmp_path / "overlay.png", writer, suffix=".png")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_text_is_still_a_valid_write(tmp_path):
    assert safe_write.atomic_write_text(tmp_path / "empty.txt", "").read_text(encoding="utf-8") == ""


# ---------------------------------------------------------------- segment(): the write phase

def test_disk_full_at_the_stats_says_which_outputs_exist(tmp_path, flair, fast_segment, monkeypatch):
    real_write_bytes = Path.write_bytes

    def full_for_json(self, data):
        if ".stats.json." in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_for_json)
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        segment(flair, out / "wmh.nii.gz", prob=out / "prob.nii.gz", stats=out / "stats.json", png=out / "o.png")
    message = str(caught.value)
    _one_sentence(message)
    assert "disk is full" in message
    assert f"in {out}, written: wmh.nii.gz, prob.nii.gz; not written: stats.json, o.png" in message
    # What exists is whole; nothing half-written lies beside it.
    assert sitk.ReadImage(str(out / "wmh.nii.gz")).GetSize() == sitk.ReadImage(str(flair)).GetSize()
    assert sorted(p.name for p in out.iterdir()) == ["prob.nii.gz", "wmh.nii.gz"]


def test_disk_full_at_the_probability_through_the_command_line(tmp_path, flair, fast_segment, monkeypatch, capsys):
    real_write = sitk.WriteImage

    def short_for_prob(image, path, *args):
        (_short_itk_writer(real_write, 0) if ".prob.nii.gz." in str(path) else real_write)(image, path, *args)

    monkeypatch.setattr(sitk, "WriteImage", short_for_prob)
    code = cli.main(["segment", str(flair), "-o", str(tmp_path / "wmh.nii.gz"), "--prob", str(tmp_path / "prob.nii.gz")])
    err = capsys.readouterr()
    assert code == 1 and "WMH" not in err.out  # no success line
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and "prob.nii.gz" in lines[0] and "written:" in lines[0], err.err
    assert not (tmp_path / "prob.nii.gz").exists() and _leftovers(tmp_path) == []


def test_an_interrupt_after_the_mask_says_what_was_written(tmp_path, flair, fast_segment, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(segment_module, "write_stats", interrupted)
    code = cli.main(["segment", str(flair), "-o", str(tmp_path / "wmh.nii.gz"), "--prob", str(tmp_path / "p.nii.gz"),
                     "--stats", str(tmp_path / "s.json")])
    err = capsys.readouterr().err.strip()
    assert code == 130
    assert "written: wmh.nii.gz, p.nii.gz; not written: s.json" in err, err


# ---------------------------------------------------------------- segment(): every output checked before any work

@pytest.mark.parametrize("outputs, match", [
    ({"output_mask": "mask.png"}, "does not end in .nii.gz"),
    ({"output_mask": "mask.txt"}, "does not end in .nii.gz"),
    ({"output_mask": "mask"}, "does not end in .nii.gz"),
    ({"output_mask": "folder"}, "is a folder"),
    ({"output_mask": "wmh.nii.gz", "prob": "wmh.nii.gz"}, "name the same file"),
    ({"output_mask": "wmh.nii.gz", "png": "x.jpg"}, "does not end in .png"),
    ({"output_mask": "wmh.nii.gz", "stats": "s.txt"}, "does not end in .json or .csv"),
    ({"output_mask": "wmh.nii.gz", "prob": "folder"}, "is a folder"),
    ({"output_mask": "a_file/wmh.nii.gz"}, "is a file, not a folder"),
])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, flair, no_work, outputs, match):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    paths = {role: tmp_path / name for role, name in outputs.items()}
    with pytest.raises(InputError, match=match) as caught:
        segment(flair, paths.pop("output_mask"), **paths)
    _one_sentence(str(caught.value))


def test_the_input_is_never_an_output_even_with_overwrite(tmp_path, flair, no_work):
    before = flair.read_bytes()
    with pytest.raises(InputError, match="is an input of this run"):
        segment(flair, flair, overwrite=True)
    with pytest.raises(InputError, match="is an input of this run"):
        segment(flair, tmp_path / "wmh.nii.gz", prob=tmp_path / "sub" / ".." / "flair.nii.gz", overwrite=True)
    assert flair.read_bytes() == before


def test_no_output_inside_an_input_dicom_folder(tmp_path, no_work):
    series = tmp_path / "series"
    _write_dicom_series(_oblique_image((_flair_like((6, 16, 20)) * 10).astype(np.int16), left_handed=False), series)
    with pytest.raises(InputError, match="inside the input DICOM folder"):
        segment(series, series / "wmh.nii.gz")


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path, flair, no_work, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores the mode bits: make the folder read-only as a mount would
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real_access(p, mode, **kw))
        with pytest.raises(InputError, match="is not writable"):
            segment(flair, locked / "new" / "wmh.nii.gz")
    finally:
        locked.chmod(0o755)


def test_a_reference_on_another_grid_is_refused_before_any_work(tmp_path, flair, head, no_work):
    other = sitk.Image([n // 2 for n in head.GetSize()], sitk.sitkUInt8)
    other.SetSpacing([2 * s for s in head.GetSpacing()])
    sitk.WriteImage(other, str(tmp_path / "ref.nii.gz"))
    with pytest.raises(InputError, match="not on the FLAIR's voxel grid"):
        segment(flair, tmp_path / "wmh.nii.gz", reference=tmp_path / "ref.nii.gz")


# ---------------------------------------------------------------- info and the README

def test_info_shows_no_path_of_the_training_machine(tmp_path, capsys):
    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.network import AttentionVNet

    net = AttentionVNet(channels=(4, 8), convs=(1, 1))
    card = model_io.new_card(net, "tiny", parent={"name": "p", "path": "/home/trainer/runs/parent-model"},
                             training={"run_dir": "/home/trainer/runs/ft", "summary": "data in /home/trainer/data/x"})
    folder = model_io.save_model(net, card, tmp_path, "tiny")
    for extra in ([], ["--json"]):
        assert cli.main(["info", "--model", str(folder), "--device", "cpu", *extra]) == 0
        printed = capsys.readouterr().out
        assert "/home/trainer" not in printed and "parent-model" in printed
    assert "/home/trainer/runs/parent-model" in (folder / "model.json").read_text(encoding="utf-8")  # the card keeps them


def test_readme_says_how_to_get_the_cpu_build_of_torch():
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in readme
    assert "pip install torch==2.13.0 && pip install -e . && radiowmhseg segment" in readme
    assert "CUDA" in readme[: readme.index("**Where the model stands**")]
