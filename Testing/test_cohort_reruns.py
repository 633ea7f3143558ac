"""Done means done the same way (issue 11): a cohort rerun skips a case only when its outputs exist and were made by
the same model and settings. segment_image is replaced by a fast stand-in (`fast_segment`, conftest.py) where what a
test checks happens before or after it.
"""

import json

import pytest
import SimpleITK as sitk

from RadioWMHSegLib import cli
from RadioWMHSegLib.choices import DEFAULT_MIN_LESION_MM3
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.cohort import segment_cohort


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
