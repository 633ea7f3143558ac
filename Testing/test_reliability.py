"""Nothing lost, nothing corrupt, no silent nonsense (issue 11).

Full disks are simulated (an ITK write that falls short, an OSError ENOSPC); most tests replace
segment_image by a fast stand-in (`fast_segment`) because what they check happens before or after it.
The table of bad inputs run through the real command line is benchmarks/bench_reliability.py.
"""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from image_files import flair_like as _flair_like
from image_files import oblique_image as _oblique_image
from image_files import write_dicom_series as _write_dicom_series
from phantoms import native_grid, phantom_with_blob
from RadioWMHSegLib import cli, safe_write
from RadioWMHSegLib import segment as segment_module
from RadioWMHSegLib.choices import DEFAULT_MIN_LESION_MM3
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.image_io import dicom_series_ids, read_flair
from RadioWMHSegLib.cohort import segment_cohort
from RadioWMHSegLib.segment import SegmentationResult, segment

REPOSITORY = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def head():
    """A small head-like FLAIR (168 x 192 x 166 mm at 2.4-2.6 mm) that passes every input check."""
    image, _ = phantom_with_blob(native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6)))
    return image


@pytest.fixture
def flair(tmp_path, head):
    path = tmp_path / "flair.nii.gz"
    sitk.WriteImage(head, str(path))
    return path


def _fake_segment_image(image, *, model=None, threshold=0.5, min_lesion_mm3=3.0, **_):
    """segment_image's contract in a few milliseconds: probability = rescaled intensity."""
    from RadioWMHSegLib.lesion_stats import compute_lesion_stats

    array = sitk.GetArrayFromImage(image).astype(np.float32)
    probability = sitk.GetImageFromArray((array - array.min()) / (array.max() - array.min()))
    probability.CopyInformation(image)
    mask = sitk.Cast(probability >= threshold, sitk.sitkUInt8)
    card = getattr(model, "card", None) or {"name": "fake", "weights_sha256": "0" * 64}
    record = {"stages": [], "device": "cpu", "seconds": 0.0, "model": {"name": card.get("name")},
              "quality": {"brain_volume_ml": 1234.0, "warnings": ["a warning of segment_image"]}}
    return SegmentationResult(mask=mask, probability=probability, brain_mask=sitk.Cast(image > 0, sitk.sitkUInt8),
                              stats=compute_lesion_stats(mask, min_lesion_mm3), record=record, model_card=card)


@pytest.fixture
def fast_segment(monkeypatch):
    calls = []

    def fake(image, **options):
        calls.append(options)
        return _fake_segment_image(image, **options)

    monkeypatch.setattr(segment_module, "segment_image", fake)
    return calls


@pytest.fixture
def no_work(monkeypatch):
    """segment_image must not be reached: the refusal has to come before any work."""
    def forbidden(*args, **kwargs):
        raise AssertionError("segment_image was called: the problem was not caught before the work")

    monkeypatch.setattr(segment_module, "segment_image", forbidden)


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def _short_itk_writer(real_write, keep_bytes):
    """sitk.WriteImage as ITK behaves on a full disk: it prints a warning, returns, and the file is short."""
    def write(image, path, *args):
        real_write(image, path, *args)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[:keep_bytes])
    return write


def _one_sentence(message):
    assert "\n" not in message and "Traceback" not in message and len(message) < 500, message


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


# ---------------------------------------------------------------- reading: say what is really wrong

def _nifti_bytes(array_xyz, affine=None):
    return nib.Nifti1Image(array_xyz, np.eye(4) if affine is None else affine).to_bytes()


def test_a_channel_asked_of_a_3d_image_is_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(_flair_like()), str(tmp_path / "f.nii.gz"))
    with pytest.raises(InputError, match="single 3D volume"):
        read_flair(tmp_path / "f.nii.gz", channel=3)


def test_an_uncompressed_nifti_named_nii_gz_is_read(tmp_path):
    array = _flair_like()
    (tmp_path / "plain.nii.gz").write_bytes(_nifti_bytes(array.T))
    np.testing.assert_allclose(sitk.GetArrayFromImage(read_flair(tmp_path / "plain.nii.gz")), array)


def test_a_sheared_nifti_is_called_sheared_not_damaged(tmp_path):
    affine = np.eye(4)
    affine[0, 1] = 0.3
    nib.save(nib.Nifti1Image(_flair_like().T, affine), str(tmp_path / "sheared.nii.gz"))
    with pytest.raises(InputError, match="sheared") as caught:
        read_flair(tmp_path / "sheared.nii.gz")
    assert "damaged" not in str(caught.value)


def test_a_non_orthonormal_mha_is_refused(tmp_path):
    image = sitk.GetImageFromArray(_flair_like())
    image.SetDirection((1, 0.3, 0, 0, 1, 0, 0, 0, 1))
    sitk.WriteImage(image, str(tmp_path / "sheared.mha"))
    with pytest.raises(InputError, match="sheared grid"):
        read_flair(tmp_path / "sheared.mha")


def test_a_nifti_without_geometry_is_read_with_a_warning(tmp_path):
    data = bytearray(_nifti_bytes(_flair_like().T))
    # pixdim[1..3] = 0 (bytes 80-91), qform_code = sform_code = 0 (bytes 252-255): the geometry is gone.
    data[80:92] = np.zeros(3, dtype="<f4").tobytes()
    data[252:256] = np.zeros(2, dtype="<i2").tobytes()
    (tmp_path / "bare.nii").write_bytes(bytes(data))
    warnings = []
    read_flair(tmp_path / "bare.nii", warnings=warnings)
    assert any("no orientation" in w for w in warnings), warnings
    assert any("no voxel size" in w for w in warnings), warnings


@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_a_dicom_series_with_a_missing_slice_is_read_with_a_warning(tmp_path, damage):
    original = _oblique_image((_flair_like((12, 16, 20)) * 10).astype(np.int16), left_handed=False)
    _write_dicom_series(original, tmp_path / "series")
    victim = tmp_path / "series" / "slice_005.dcm"
    if damage == "missing":
        victim.unlink()
    else:
        victim.write_bytes(victim.read_bytes()[:200])
    warnings = []
    read_flair(tmp_path / "series", warnings=warnings)
    assert any("unevenly spaced" in w for w in warnings), warnings
    complete = tmp_path / "complete"
    _write_dicom_series(original, complete)
    warnings = []
    read_flair(complete, warnings=warnings)
    assert warnings == []


def test_looking_for_dicom_in_a_folder_prints_nothing(tmp_path, capfd):
    (tmp_path / "notes.txt").write_text("no images here")
    assert dicom_series_ids(tmp_path) == ()
    assert "No Series" not in capfd.readouterr().err


# ---------------------------------------------------------------- content: refuse or warn

def _image(array, spacing=(1.0, 1.0, 1.0)):
    image = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
    image.SetSpacing(spacing)
    return image


@pytest.mark.parametrize("case, match", [
    ("tiny", "covers only 5 x 5 x 5 mm"),
    ("negative", "no positive voxel"),
    ("eleven_values", "only 11 distinct values"),
])
def test_images_nothing_sensible_can_come_from_are_refused(case, match, head):
    from RadioWMHSegLib.input_checks import check_segmentable

    rng = np.random.default_rng(0)
    image = {"tiny": lambda: _image(100 + rng.random((5, 5, 5))),
             "negative": lambda: head - 2000.0,
             "eleven_values": lambda: _image(rng.integers(0, 11, (64, 64, 64)) * 37.5 + 3.3)}[case]()
    with pytest.raises(InputError, match=match) as caught:
        check_segmentable(image, "'x'")
    _one_sentence(str(caught.value))


@pytest.mark.parametrize("case, match", [
    ("noise", "does not look like a head"),
    ("inverted", "does not look like a head"),
    ("slab", "covers only 168 x 192 x 42 mm"),
    ("coarse", "coarse voxels"),
    ("forty_levels", "distinct grey levels (a FLAIR has hundreds)"),
])
def test_doubtful_images_carry_a_warning(case, match, head):
    from RadioWMHSegLib.input_checks import check_segmentable

    rng = np.random.default_rng(0)
    array = sitk.GetArrayFromImage(head)
    image = {
        "noise": lambda: _image(rng.random((96, 96, 96)) * 1000, (2.0, 2.0, 2.0)),
        "inverted": lambda: sitk.Cast(float(array.max()) - head, sitk.sitkFloat32),
        "slab": lambda: head[:, :, 30:46],
        "coarse": lambda: sitk.Resample(head, [18, 20, 17], sitk.Transform(), sitk.sitkLinear, head.GetOrigin(),
                                        [10.0] * 3, head.GetDirection()),
        "forty_levels": lambda: sitk.Cast(sitk.Round(head / float(array.max()) * 39), sitk.sitkFloat32),
    }[case]()
    warnings = check_segmentable(image, "'x'")
    assert any(match in w for w in warnings), warnings


def test_a_plain_head_has_no_warning(head):
    from RadioWMHSegLib.input_checks import check_segmentable

    assert check_segmentable(head, "'x'") == []


def test_a_t1_like_contrast_is_flagged_and_a_flair_is_not():
    from phantoms import flair_like_template
    from RadioWMHSegLib import templates
    from RadioWMHSegLib.input_checks import check_contrast

    brain = templates.mni_brain_mask()
    gm = sitk.GetArrayFromImage(templates.mni_tissue("gm"))
    wm = sitk.GetArrayFromImage(templates.mni_tissue("wm"))
    inside = sitk.GetArrayFromImage(brain) > 0
    t1 = sitk.GetImageFromArray(((200 * gm + 300 * wm + 60 * np.clip(1 - gm - wm, 0, 1)) * inside).astype(np.float32))
    t1.CopyInformation(brain)
    # At 2 mm (as fast as a test should be; the check reads the same at 1 mm).
    brain2, t1_2, flair_2 = (sitk.BinShrink(i, [2, 2, 2]) for i in (sitk.Cast(brain, sitk.sitkFloat32), t1,
                                                                     flair_like_template()))
    brain2 = sitk.Cast(brain2 > 0.5, sitk.sitkUInt8)
    assert any("does not look like FLAIR" in w for w in check_contrast(t1_2, brain2))
    assert check_contrast(flair_2, brain2) == []


def test_warnings_reach_the_record_and_the_stats_beside_those_of_segment_image(tmp_path, head, fast_segment):
    slab = tmp_path / "slab.nii.gz"
    sitk.WriteImage(head[:, :, 24:46], str(slab))
    result = segment(slab, tmp_path / "wmh.nii.gz", stats=tmp_path / "s.json")
    quality = result.record["quality"]
    assert quality["brain_volume_ml"] == 1234.0  # what segment_image put there is kept
    assert quality["warnings"][0] == "a warning of segment_image"
    assert any("covers only" in w for w in quality["warnings"][1:])
    saved = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert saved["processing"]["quality"]["warnings"] == quality["warnings"]


@pytest.mark.parametrize("case", ["tiny", "negative"])
def test_the_command_line_refuses_in_one_line_without_a_traceback(tmp_path, head, case):
    image = _image(100 + np.random.default_rng(0).random((5, 5, 5))) if case == "tiny" else head - 2000.0
    sitk.WriteImage(image, str(tmp_path / "in.nii.gz"))
    out = subprocess.run([sys.executable, "-m", "RadioWMHSegLib", "segment", str(tmp_path / "in.nii.gz"),
                          "-o", str(tmp_path / "wmh.nii.gz")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "wmh.nii.gz").exists()


# ---------------------------------------------------------------- cohorts: done means done the same way

@pytest.fixture
def cohort(tmp_path, head):
    folder = tmp_path / "cases"
    folder.mkdir()
    for name in ("a", "b"):
        sitk.WriteImage(head, str(folder / f"{name}.nii.gz"))
    return folder


@pytest.fixture
def fake_model():
    from RadioWMHSegLib.model_io import LoadedModel

    return LoadedModel(net=None, card={"name": "fake", "weights_sha256": "0" * 64}, path=None)


def _statuses(rows):
    return {r["case"]: r["status"] for r in rows}


def test_a_cohort_rerun_with_other_settings_is_not_taken_for_done(tmp_path, cohort, fast_segment, fake_model):
    out = tmp_path / "out"
    assert set(_statuses(segment_cohort([cohort], out, model=fake_model, show_progress=False)).values()) == {"done"}
    first = (out / "a_wmh.nii.gz").read_bytes()
    saved = json.loads((out / "a_stats.json").read_text(encoding="utf-8"))
    assert saved["settings"]["threshold"] == 0.5 and saved["settings"]["model"]["weights_sha256"] == "0" * 64

    assert set(_statuses(segment_cohort([cohort], out, model=fake_model, show_progress=False)).values()) == {"skipped"}
    rows = segment_cohort([cohort], out, model=fake_model, show_progress=False, threshold=0.3)
    assert set(_statuses(rows).values()) == {"refused"}
    assert "(threshold 0.5, now 0.3)" in rows[0]["message"] and "--overwrite" in rows[0]["message"]
    assert (out / "a_wmh.nii.gz").read_bytes() == first  # kept, and said so

    rows = segment_cohort([cohort], out, model=fake_model, show_progress=False, threshold=0.3, overwrite=True)
    assert set(_statuses(rows).values()) == {"done"}
    assert (out / "a_wmh.nii.gz").read_bytes() != first
    assert json.loads((out / "a_stats.json").read_text(encoding="utf-8"))["settings"]["threshold"] == 0.3
    rows = segment_cohort([cohort], out, model=fake_model, show_progress=False, threshold=0.3, overwrite=True)
    assert set(_statuses(rows).values()) == {"done"}  # --overwrite redoes even what matches


def test_a_cohort_rerun_with_another_model_or_min_size_is_not_taken_for_done(tmp_path, cohort, fast_segment, fake_model):
    from RadioWMHSegLib.model_io import LoadedModel

    out = tmp_path / "out"
    segment_cohort([cohort], out, model=fake_model, show_progress=False)
    other_size = DEFAULT_MIN_LESION_MM3 + 7.0
    rows = segment_cohort([cohort], out, model=fake_model, show_progress=False, min_lesion_mm3=other_size)
    assert set(_statuses(rows).values()) == {"refused"} and "min_lesion_mm3" in rows[0]["message"]
    other = LoadedModel(net=None, card={"name": "fake", "weights_sha256": "1" * 64}, path=None)
    rows = segment_cohort([cohort], out, model=other, show_progress=False)
    assert set(_statuses(rows).values()) == {"refused"} and "model" in rows[0]["message"]


def test_a_cohort_case_missing_an_output_is_redone(tmp_path, cohort, fast_segment, fake_model):
    out = tmp_path / "out"
    segment_cohort([cohort], out, model=fake_model, show_progress=False, write_prob=True)
    (out / "a_wmh_prob.nii.gz").unlink()  # as an interrupt right after the mask would leave it
    (out / "b_stats.json").unlink()
    rows = segment_cohort([cohort], out, model=fake_model, show_progress=False, write_prob=True)
    assert _statuses(rows) == {"a": "done", "b": "done"}
    assert (out / "a_wmh_prob.nii.gz").exists() and (out / "b_stats.json").exists()
    assert set(_statuses(segment_cohort([cohort], out, model=fake_model, show_progress=False, write_prob=True)).values()) == {"skipped"}


def test_a_cohort_never_writes_into_its_input_folder(tmp_path, cohort, no_work):
    with pytest.raises(InputError, match="is an input folder"):
        segment_cohort([cohort], cohort, show_progress=False)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        segment_cohort([cohort], tmp_path / "a_file", show_progress=False)


def test_cohort_flags_need_no_value_and_overwrite_redoes(tmp_path, cohort, fast_segment, fake_model, capsys,
                                                        monkeypatch):
    from RadioWMHSegLib import model_io

    monkeypatch.setattr(model_io, "load_model", lambda *args, **kwargs: fake_model)  # not the bundled one: faster
    out = tmp_path / "out"
    assert cli.main(["segment", str(cohort), "-o", str(out), "--prob", "--brain-mask"]) == 0
    assert (out / "a_wmh_prob.nii.gz").exists() and (out / "b_brainmask.nii.gz").exists()
    assert cli.main(["segment", str(cohort), "-o", str(out), "--prob", "--threshold", "0.4"]) == 1
    assert "2 not redone" in capsys.readouterr().out
    assert cli.main(["segment", str(cohort), "-o", str(out), "--prob", "--threshold", "0.4", "--overwrite"]) == 0
    assert "2 segmented" in capsys.readouterr().out


def test_one_case_prob_flag_without_a_value_writes_next_to_the_mask(tmp_path, flair, fast_segment):
    assert cli.main(["segment", str(flair), "-o", str(tmp_path / "wmh.nii.gz"), "--prob", "--brain-mask"]) == 0
    assert (tmp_path / "wmh_prob.nii.gz").exists() and (tmp_path / "wmh_brainmask.nii.gz").exists()


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
