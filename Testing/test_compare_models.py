"""benchmarks/compare_models.py: a wrong model or an existing table stops the run before any case is segmented."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import compare_models  # noqa: E402  (after the path)


def test_bundled_is_a_model_name_and_each_model_is_loaded_once(tmp_path):
    models = compare_models.load_models(["bundled"], bundled=True)
    assert [name for name, _ in models] == ["bundled", "bundled"]
    assert all(hasattr(loaded, "net") for _, loaded in models)


def test_a_missing_model_folder_stops_the_run_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as stopped:
        compare_models.load_models(["bundled", str(tmp_path / "no_such_model")])
    assert "no_such_model" in str(stopped.value) and "does not exist" in str(stopped.value)
    with pytest.raises(SystemExit) as stopped:
        compare_models.load_models([])
    assert "no model given" in str(stopped.value)


def test_an_existing_table_is_refused_before_any_work(tmp_path):
    table = tmp_path / "comparison.md"
    table.write_text("earlier results\n")
    run = subprocess.run([sys.executable, str(BENCHMARKS / "compare_models.py"), "bundled", "--out", str(table)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "exists: give a new file name" in run.stderr
    assert table.read_text() == "earlier results\n"


def test_a_synthetic_folder_that_is_not_a_dataset_stops_the_run_in_one_line(tmp_path):
    run = subprocess.run([sys.executable, str(BENCHMARKS / "compare_models.py"), "bundled", "--synthetic",
                          str(tmp_path / "no_dataset"), "--out", str(tmp_path / "table.md")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "no_dataset" in run.stderr and "does not exist" in run.stderr
    assert not (tmp_path / "table.md").exists()
