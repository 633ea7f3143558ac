"""Evaluation over files and folders, the table, CSV/JSON outputs and `radiowmhseg evaluate`."""

import csv
import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.cli import main
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.evaluate import evaluate_paths, format_table, summarise, write_csv, write_json

SHAPE = (16, 20, 20)


def write_mask(path, array, spacing=(1.0, 1.0, 2.0)):
    image = sitk.GetImageFromArray(np.asarray(array, dtype=np.uint8))
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def cube(offset_x=0, size=6):
    array = np.zeros(SHAPE, dtype=np.uint8)
    array[4:4 + size, 5:5 + size, 5 + offset_x:5 + offset_x + size] = 1
    return array


@pytest.fixture
def cohort(tmp_path):
    """Reference folder of three cases and predictions named in the three accepted ways."""
    ref_dir, pred_dir = tmp_path / "labelsTs", tmp_path / "predictions"
    ref_dir.mkdir()
    pred_dir.mkdir()
    write_mask(ref_dir / "case_a.nii.gz", cube())
    write_mask(ref_dir / "case_b.nii.gz", cube())
    write_mask(ref_dir / "case_c.nii.gz", cube())
    write_mask(pred_dir / "case_a.nii.gz", cube())             # perfect
    write_mask(pred_dir / "case_b_0000.nii.gz", cube(3))       # half overlap
    write_mask(pred_dir / "case_c_wmh.nii.gz", np.zeros(SHAPE))  # nothing found
    write_mask(pred_dir / "case_c_wmh_prob.nii.gz", cube())     # a probability map, not a mask
    (pred_dir / "case_a_stats.json").write_text("{}")
    return pred_dir, ref_dir


def test_folders_are_matched_by_case_name(cohort):
    pred_dir, ref_dir = cohort
    rows = evaluate_paths(pred_dir, ref_dir)
    assert [row["case"] for row in rows] == ["case_a", "case_b", "case_c"]
    assert rows[0]["dsc"] == 1.0
    assert rows[1]["dsc"] == pytest.approx(0.5)
    assert rows[1]["hd"] == pytest.approx(3.0)
    assert rows[2]["dsc"] == 0.0 and math.isnan(rows[2]["hd95"])
    assert rows[0]["ref_volume_ml"] == pytest.approx(216 * 2.0 / 1000)


def test_single_files(cohort):
    pred_dir, ref_dir = cohort
    rows = evaluate_paths(pred_dir / "case_b_0000.nii.gz", ref_dir / "case_b.nii.gz")
    assert len(rows) == 1
    assert rows[0]["case"] == "case_b"
    assert rows[0]["sensitivity"] == pytest.approx(0.5)


def test_missing_and_unmatched_cases(cohort, tmp_path):
    pred_dir, ref_dir = cohort
    write_mask(ref_dir / "case_d.nii.gz", cube())
    with pytest.raises(InputError, match="case_d"):
        evaluate_paths(pred_dir, ref_dir)
    with pytest.warns(UserWarning, match="case_d"):
        rows = evaluate_paths(pred_dir, ref_dir, allow_missing=True)
    assert len(rows) == 3

    (ref_dir / "case_d.nii.gz").unlink()
    write_mask(pred_dir / "stranger.nii.gz", cube())
    with pytest.warns(UserWarning, match="stranger"):
        evaluate_paths(pred_dir, ref_dir)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no images"):
        evaluate_paths(pred_dir, empty)
    with pytest.raises(InputError, match="two files or two folders"):
        evaluate_paths(pred_dir, ref_dir / "case_a.nii.gz")


def test_grid_mismatch_names_the_case(tmp_path):
    pred = write_mask(tmp_path / "p.nii.gz", cube(), spacing=(1.0, 1.0, 1.0))
    ref = write_mask(tmp_path / "r.nii.gz", cube(), spacing=(1.0, 1.0, 2.0))
    with pytest.raises(InputError, match="case r.*spacing"):
        evaluate_paths(pred, ref)


def test_summary_leaves_undefined_values_out():
    rows = [{"case": "a", "dsc": 0.5, "hd95": 2.0}, {"case": "b", "dsc": 0.7, "hd95": float("nan")},
            {"case": "c", "dsc": 0.9, "hd95": 4.0}]
    summary = summarise(rows)
    assert summary["dsc"]["mean"] == pytest.approx(0.7)
    assert summary["dsc"]["sd"] == pytest.approx(np.std([0.5, 0.7, 0.9], ddof=1))
    assert summary["dsc"]["n"] == 3
    assert summary["hd95"]["mean"] == pytest.approx(3.0)
    assert summary["hd95"]["n"] == 2
    assert math.isnan(summarise(rows[:1])["dsc"]["sd"])


def test_table_has_a_line_per_case_and_mean_sd(cohort):
    rows = evaluate_paths(*cohort)
    table = format_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| Case | DSC |")
    assert lines[2].startswith("| case_a | 1.000 |")
    assert "n/a" in lines[4]  # case_c: HD95 undefined
    mean_dsc = np.mean([1.0, 0.5, 0.0])
    assert lines[5].startswith(f"| **mean ± sd** (n=3) | {mean_dsc:.3f} ± ")
    assert "HD95 (mm) over 2" in table


def test_csv_and_json_outputs(cohort, tmp_path):
    rows = evaluate_paths(*cohort)
    path = write_csv(rows, tmp_path / "metrics.csv")
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [r["case"] for r in read] == ["case_a", "case_b", "case_c"]
    assert float(read[1]["dsc"]) == pytest.approx(0.5)
    assert read[2]["hd95"] == ""  # undefined
    with pytest.raises(InputError, match="already exists"):
        write_csv(rows, path)

    text = write_json(rows, tmp_path / "metrics.json").read_text(encoding="utf-8")
    assert "NaN" not in text
    document = json.loads(text)
    assert document["cases"][2]["hd95"] is None
    assert document["summary"]["dsc"]["n"] == 3


def test_command_line(cohort, tmp_path, capsys):
    pred_dir, ref_dir = cohort
    csv_path, json_path = tmp_path / "out" / "m.csv", tmp_path / "out" / "m.json"
    code = main(["evaluate", str(pred_dir), str(ref_dir), "--csv", str(csv_path), "--json", str(json_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "| case_b | 0.500 |" in out
    assert "mean ± sd" in out
    assert csv_path.is_file() and json_path.is_file()

    # existing outputs are refused before any work, with one line on stderr
    assert main(["evaluate", str(pred_dir), str(ref_dir), "--csv", str(csv_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("radiowmhseg: error:") and "already exists" in err and err.count("\n") == 1

    write_mask(pred_dir / "stranger.nii.gz", cube())
    assert main(["evaluate", str(pred_dir), str(ref_dir), "--surface", "3d"]) == 0
    assert "warning" in capsys.readouterr().err

    assert main(["evaluate", str(tmp_path / "nowhere"), str(ref_dir)]) == 1
    assert "does not exist" in capsys.readouterr().err
