"""`radiowmhseg rank`: cases ordered by the model's uncertainty, from a results folder or from FLAIRs."""

import csv
import json

import pytest
import SimpleITK as sitk

from conftest import lopsided_net
from phantoms import native_grid, phantom_with_blob
from RadioWMHSegLib import cli, ranking
from RadioWMHSegLib.model_io import LoadedModel


def write_stats(folder, case, score=None, wmh=1.0):
    document = {"input": f"/data/{case}.nii.gz", "total_volume_ml": wmh, "count": 1}
    if score is not None:
        document["uncertainty"] = dict(zip(("uncertain_volume_ml", "uncertain_fraction", "mean_in_wmh"), score))
    (folder / f"{case}_stats.json").write_text(json.dumps(document))


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    write_stats(folder, "calm", (0.5, 0.9, 0.30))
    write_stats(folder, "torn", (9.0, 0.2, 0.10))
    write_stats(folder, "middling", (3.0, 0.5, 0.20))
    write_stats(folder, "old_run")  # segmented without --uncertainty
    (folder / "broken_stats.json").write_text("{")
    (folder / "torn_wmh.nii.gz").write_bytes(b"")  # the mask beside it is found
    return folder


def test_a_results_folder_is_ranked_most_uncertain_first_and_unscored_cases_last(results):
    rows = ranking.rank_results(results)
    assert [(r["rank"], r["case"]) for r in rows] == [(1, "torn"), (2, "middling"), (3, "calm"), (None, "broken"),
                                                       (None, "old_run")]
    assert rows[0]["mask"] == str(results / "torn_wmh.nii.gz") and rows[1]["mask"] == ""
    assert "without --uncertainty" in rows[4]["note"] and "cannot be read" in rows[3]["note"]
    by_fraction = ranking.rank_results(results, by="uncertain_fraction")
    assert [r["case"] for r in by_fraction[:3]] == ["calm", "middling", "torn"]


def test_the_command_prints_the_table_and_writes_the_csv(results, tmp_path, capsys):
    assert cli.main(["rank", str(results)]) == 0
    printed = capsys.readouterr().out
    assert printed.index("torn") < printed.index("middling") < printed.index("calm")
    with open(results / ranking.RANKING_CSV, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["case"] for r in table] == ["torn", "middling", "calm", "broken", "old_run"]
    assert table[0]["rank"] == "1" and table[0]["uncertain_volume_ml"] == "9.0" and table[3]["rank"] == ""
    assert cli.main(["rank", str(results)]) == 0  # its own default file is regenerated
    (tmp_path / "mine.csv").write_text("a user's file")
    assert cli.main(["rank", str(results), "-o", str(tmp_path / "mine.csv")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "mine.csv").read_text(encoding="utf-8") == "a user's file"


def test_flairs_without_a_results_folder_are_refused_in_one_line(tmp_path, capsys):
    sitk.WriteImage(sitk.Image(8, 8, 8, sitk.sitkFloat32), str(tmp_path / "a.nii.gz"))
    assert cli.main(["rank", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--results" in err[0]


def test_a_folder_of_flairs_is_segmented_with_uncertainty_then_ranked(tmp_path):
    grid = native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6))
    cohort = tmp_path / "flairs"
    cohort.mkdir()
    for name, centre in (("one", (70, 120, 100)), ("two", (120, 120, 60))):
        sitk.WriteImage(phantom_with_blob(grid, centre_index=centre)[0], str(cohort / f"{name}.nii.gz"))
    (cohort / "broken.nii.gz").write_bytes(b"not an image")
    model = LoadedModel(net=lopsided_net(), card={"name": "lopsided", "weights_sha256": "0" * 64}, path=None)
    options = dict(model=model, device="cpu", skull_stripped=True, show_progress=False)
    rows, cohort_rows = ranking.rank_cohort([cohort], tmp_path / "results", **options)
    assert [r["case"] for r in rows if r["rank"]] and {r["case"] for r in rows if r["rank"]} == {"one", "two"}
    assert rows[0]["uncertain_volume_ml"] >= rows[1]["uncertain_volume_ml"] > 0
    assert rows[-1]["case"] == "broken" and rows[-1]["note"].startswith("failed")
    assert (tmp_path / "results" / "one_wmh_uncertainty.nii.gz").exists()
    again, cohort_rows = ranking.rank_cohort([cohort], tmp_path / "results", **options)
    assert {r["case"]: r["status"] for r in cohort_rows}["one"] == "skipped"
    assert [r["case"] for r in again] == [r["case"] for r in rows]
