"""`radiowmhseg dataset create|add|check|split|remove`: bring your own labelled scans. Training on a dataset's folds
and its preprocessing cache: test_dataset_training.py."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from RadioWMHSegLib.cli import main
from RadioWMHSegLib.datasets import add_case, load_dataset

from image_files import write_dicom_series
from image_files import small_flair as _flair
from image_files import small_mask as _mask
from image_files import write_image as _write
from tiny_datasets import tiny_dataset_with_split as _tiny_dataset_with_split



def _entries(dataset_dir):
    return {e["case"]: e for e in json.loads((Path(dataset_dir) / "dataset.json").read_text(encoding="utf-8"))["training"]}


# ----------------------------------------------------------------------------- help, create, one pair


def test_voxel_digest_is_the_scans_not_the_files():
    from RadioWMHSegLib.datasets import voxel_sha256

    image = sitk.Cast(_flair(2), sitk.sitkInt16)
    moved = sitk.Cast(image, sitk.sitkFloat32)
    moved.SetOrigin((5.0, 5.0, 5.0))  # another header, another pixel type: the same scan
    assert voxel_sha256(moved) == voxel_sha256(image)
    changed = sitk.Image(image)
    changed[1, 1, 1] = changed[1, 1, 1] + 1
    assert voxel_sha256(changed) != voxel_sha256(image)


def test_dataset_help_lists_its_actions(capsys):
    for action in ("create", "add", "check", "split"):
        with pytest.raises(SystemExit) as exit_:
            main(["dataset", action, "--help"])
        assert exit_.value.code == 0
        assert f"usage: radiowmhseg dataset {action} " in capsys.readouterr().out


def test_create_then_add_one_pair_records_the_case(tmp_path, capsys):
    ds = tmp_path / "ds"
    assert main(["dataset", "create", str(ds), "--name", "site_a", "--skull-stripped"]) == 0
    image = _flair(1)
    img, lab = _write(image, tmp_path / "in" / "sub01_flair.nii.gz"), _write(_mask(image), tmp_path / "in" / "m.nii.gz")
    assert main(["dataset", "add", str(ds), str(img), str(lab)]) == 0
    assert main(["dataset", "add", str(ds), str(img), str(lab), "--case", "other", "--no-skull-stripped"]) == 1
    captured = capsys.readouterr()
    assert "refused other: its image has the same voxels as case sub01_flair" in captured.err
    dataset = load_dataset(ds)
    assert dataset.name == "site_a" and [c.name for c in dataset.cases] == ["sub01_flair"]
    case = dataset.cases[0]
    assert case.metadata["skull_stripped"] is True  # the dataset's default
    assert case.metadata["base_case"] == "sub01_flair" and case.metadata["version"] == 1
    assert case.metadata["source_image"] == str(img.resolve())
    assert case.metadata["wmh_volume_ml"] == pytest.approx(16 * 1.2 / 1000.0, abs=1e-4)
    stored = sitk.ReadImage(str(case.label_path))
    assert stored.GetPixelID() == sitk.sitkUInt8
    assert np.array_equal(sitk.GetArrayFromImage(stored), sitk.GetArrayFromImage(_mask(image)))
    assert main(["dataset", "create", str(ds)]) == 1  # never over an existing dataset


def test_an_unscored_region_label_3_is_added_and_checked_and_label_4_is_refused(tmp_path, capsys):
    ds = tmp_path / "ds"
    image = _flair(1)
    img = _write(image, tmp_path / "in" / "a.nii.gz")
    unscored = _write(_mask(image, (1, 3)), tmp_path / "in" / "m3.nii.gz")
    assert main(["dataset", "add", str(ds), str(img), str(unscored)]) == 0
    assert main(["dataset", "check", str(ds)]) == 0
    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(load_dataset(ds).cases[0].label_path)))
    assert set(np.unique(stored)) == {0, 1, 3}
    wrong = _write(_mask(_flair(2), (1, 4)), tmp_path / "in" / "m4.nii.gz")
    assert main(["dataset", "add", str(ds), str(_write(_flair(2), tmp_path / "in" / "b.nii.gz")), str(wrong)]) == 1
    assert "values 4" in capsys.readouterr().err


def test_add_needs_exactly_one_source(tmp_path, capsys):
    assert main(["dataset", "add", str(tmp_path / "ds")]) == 1
    assert main(["dataset", "add", str(tmp_path / "ds"), "a.nii.gz", "--csv", "m.csv"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("give one source" in line for line in err)
    assert not (tmp_path / "ds").exists()


# ----------------------------------------------------------------------------- the bulk forms and their checks


def _case_folders(root):
    """Seven case folders: three good (one with an empty mask), one per refusal reason."""
    for i, name in enumerate(("good_a", "good_b", "empty")):
        image = _flair(10 + i)
        _write(image, root / name / "FLAIR.nii.gz")
        _write(_mask(image, () if name == "empty" else (1, 2)), root / name / "WMH.nii.gz")
    image = _flair(20)
    _write(image, root / "label4" / "FLAIR.nii.gz")
    _write(_mask(image, (1, 4)), root / "label4" / "WMH.nii.gz")
    image = _flair(21)
    _write(image, root / "offgrid" / "FLAIR.nii.gz")
    array = np.zeros((5, 8, 7), np.uint8)  # a mask on a 2 mm grid over the same field of view
    array[1:3, 2:4, 2:4] = 1
    coarse = sitk.GetImageFromArray(array)
    coarse.SetSpacing((2.0, 2.0, 2.4))
    _write(coarse, root / "offgrid" / "WMH.nii.gz")
    _write(_flair(22), root / "nomask" / "FLAIR.nii.gz")
    image = _flair(23)
    _write(sitk.Cast(_mask(image), sitk.sitkFloat32), root / "isamask" / "FLAIR.nii.gz")  # a mask, not a FLAIR
    _write(_mask(image), root / "isamask" / "WMH.nii.gz")
    return root


def test_folder_of_case_folders_adds_good_cases_and_refuses_each_bad_one_in_a_line(tmp_path, capsys):
    source, ds = _case_folders(tmp_path / "site"), tmp_path / "ds"
    code = main(["dataset", "add", str(ds), "--cases-dir", str(source), "--image-pattern", "FLAIR.nii.gz",
                 "--label-pattern", "WMH.nii.gz"])
    captured = capsys.readouterr()
    assert code == 1
    refused = [line for line in captured.err.splitlines() if line.startswith("refused")]
    assert len(refused) == 4
    assert any(line.startswith("refused label4:") and "values 4" in line for line in refused)
    assert any(line.startswith("refused offgrid:") and "different grids" in line and "--resample-label" in line
               for line in refused)
    assert any(line.startswith("refused nomask:") and "no label matching 'WMH.nii.gz'" in line for line in refused)
    assert any(line.startswith("refused isamask:") and "looks like a label mask" in line for line in refused)
    assert "note empty: the mask is empty" in captured.out
    assert "added 3 case(s)" in captured.out and "4 refused" in captured.out
    # Nothing of a refused case was written.
    assert sorted(_entries(ds)) == ["empty", "good_a", "good_b"]
    assert sorted(p.name for p in (ds / "imagesTr").iterdir()) == ["empty_0000.nii.gz", "good_a_0000.nii.gz",
                                                                   "good_b_0000.nii.gz"]
    # Rerun with --resample-label: the three added are recognised, offgrid is resampled and says so.
    code = main(["dataset", "add", str(ds), "--cases-dir", str(source), "--resample-label"])
    out = capsys.readouterr().out
    assert code == 1  # label4, nomask and isamask are still refused
    assert out.count("already in the dataset with the same image and mask") == 3
    assert "note offgrid: mask resampled onto the image grid by nearest neighbour" in out
    entry = _entries(ds)["offgrid"]
    assert entry["label_resampled_from"]["spacing"] == [2.0, 2.0, 2.4]
    label = sitk.ReadImage(str(ds / entry["label"]))
    assert label.GetSize() == _flair(21).GetSize() and np.count_nonzero(sitk.GetArrayViewFromImage(label)) > 0


def test_csv_manifest_reads_dicom_images_metadata_and_refuses_a_repeated_name(tmp_path, capsys):
    image_a = _flair(30)
    dicom = write_dicom_series(sitk.Cast(image_a, sitk.sitkInt16), tmp_path / "raw" / "a_dicom")
    _write(_mask(image_a), tmp_path / "raw" / "a_mask.nii.gz")
    image_b = _flair(31)
    _write(image_b, tmp_path / "raw" / "b.nii.gz")
    _write(_mask(image_b, (2,)), tmp_path / "raw" / "b_mask.nii.gz")
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "image", "label", "skull_stripped", "site"])
        writer.writerow(["A", "raw/a_dicom", "raw/a_mask.nii.gz", "yes", "north"])
        writer.writerow(["B", "raw/b.nii.gz", "raw/b_mask.nii.gz", "", "south"])
        writer.writerow(["A", "raw/b.nii.gz", "raw/b_mask.nii.gz", "no", "south"])
    code = main(["dataset", "add", str(tmp_path / "ds"), "--csv", str(manifest)])
    captured = capsys.readouterr()
    assert code == 1
    assert "refused A: the case name A is used twice (line 2 of manifest.csv and line 4 of manifest.csv)" in captured.err
    assert "note B: the mask has no WMH (label 1), only other pathology" in captured.out
    entries = _entries(tmp_path / "ds")
    assert sorted(entries) == ["A", "B"]
    assert entries["A"]["skull_stripped"] is True and entries["B"]["skull_stripped"] is False
    assert entries["A"]["site"] == "north" and entries["A"]["source_image"] == str(dicom.resolve())
    stored = sitk.ReadImage(str(tmp_path / "ds" / entries["A"]["image"]))
    assert stored.GetSize() == image_a.GetSize()
    assert np.array_equal(sitk.GetArrayFromImage(stored), sitk.GetArrayFromImage(sitk.Cast(image_a, sitk.sitkInt16)))


def test_a_taken_name_is_refused_and_a_dry_run_writes_nothing(tmp_path, capsys):
    ds = tmp_path / "ds"
    first, second = _flair(40), _flair(41)
    pairs = [(_write(im, tmp_path / f"{i}.nii.gz"), _write(_mask(im), tmp_path / f"{i}_m.nii.gz"))
             for i, im in enumerate((first, second))]
    assert main(["dataset", "add", str(ds), *map(str, pairs[0]), "--case", "p1"]) == 0
    before = (ds / "dataset.json").read_bytes()
    assert main(["dataset", "add", str(ds), *map(str, pairs[1]), "--case", "p1"]) == 1
    assert "refused p1: a case named p1 is already in" in capsys.readouterr().err
    assert main(["dataset", "add", str(ds), *map(str, pairs[1]), "--case", "p2", "--dry-run"]) == 0
    assert "would add 1 case(s)" in capsys.readouterr().out
    assert (ds / "dataset.json").read_bytes() == before
    assert sorted(p.name for p in (ds / "labelsTr").iterdir()) == ["p1.nii.gz"]
    # A folder that holds something else is never turned into a dataset.
    assert main(["dataset", "add", str(tmp_path), *map(str, pairs[1])]) == 1
    assert "is not empty and holds no dataset.json" in capsys.readouterr().err


# ----------------------------------------------------------------------------- check


def _clean_dataset(path, n=4):
    for i in range(n):
        image = _flair(50 + i)
        add_case(path, f"c{i}", image, _mask(image))
    return Path(path)


def test_check_passes_a_clean_dataset_and_reports_every_problem_of_a_broken_one(tmp_path, capsys):
    ds = _clean_dataset(tmp_path / "ds", 6)
    assert main(["dataset", "check", str(ds)]) == 0
    assert "6 case(s) checked, OK" in capsys.readouterr().out

    (ds / "labelsTr" / "c0.nii.gz").unlink()                                        # a missing file
    image = sitk.ReadImage(str(ds / "imagesTr" / "c1_0000.nii.gz"))
    sitk.WriteImage(_mask(image, (1, 4)), str(ds / "labelsTr" / "c1.nii.gz"))        # a label 4
    shifted = _mask(image)
    shifted.SetOrigin((0.0, 0.0, 5.0))
    sitk.WriteImage(shifted, str(ds / "labelsTr" / "c2.nii.gz"))                   # off the image grid
    sitk.WriteImage(sitk.ReadImage(str(ds / "imagesTr" / "c3_0000.nii.gz")),
                    str(ds / "imagesTr" / "c4_0000.nii.gz"))                       # c4 is c3's scan again
    data = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    data["test"] = ["c5"]                                                         # tested and trained on
    (ds / "dataset.json").write_text(json.dumps(data))
    assert main(["dataset", "check", str(ds)]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("problem:")]
    assert len(problems) == 5, out
    assert any("case c0" in p and "label file" in p and "missing" in p for p in problems)
    assert any("case c1" in p and "values 4" in p for p in problems)
    assert any("case c2" in p and "different grids" in p for p in problems)
    assert any("c3 and c4 have identical image voxels" in p for p in problems)
    assert any("c5" in p and "test list" in p for p in problems)
    assert "5 problem(s)" in out


def test_check_reports_a_test_image_that_is_a_training_scan_and_empty_masks(tmp_path, capsys):
    ds = _clean_dataset(tmp_path / "ds", 2)
    image = _flair(60)
    add_case(ds, "blank", image, _mask(image, ()))
    sitk.WriteImage(sitk.ReadImage(str(ds / "imagesTr" / "c1_0000.nii.gz")), str(ds / "imagesTs_c1.nii.gz"))
    data = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    data["test"] = ["imagesTs_c1.nii.gz"]
    (ds / "dataset.json").write_text(json.dumps(data))
    assert main(["dataset", "check", str(ds)]) == 1
    out = capsys.readouterr().out
    assert "problem: test image imagesTs_c1.nii.gz has the same voxels as training case c1" in out
    assert "note: case blank: the mask is empty" in out


# ----------------------------------------------------------------------------- split


def _dataset_with_versions(path):
    """p0..p5, p0 exported twice more (p0_v2, p0_v3 as Slicer does), and p6 = p1's scan under another name."""
    ds = _clean_dataset(path, 0)
    images = {}
    for i in range(6):
        images[i] = _flair(70 + i)
        add_case(ds, f"p{i}", images[i], _mask(images[i]))
    add_case(ds, "p0", images[0], _mask(images[0], (1, 1)))
    add_case(ds, "p0", images[0], _mask(images[0], (1, 2)))
    add_case(ds, "p6", images[1], _mask(images[1]))
    return ds


def test_split_keeps_versions_and_duplicates_together_and_covers_every_case(tmp_path, capsys):
    ds = _dataset_with_versions(tmp_path / "ds")
    assert [c.name for c in load_dataset(ds).cases][-3:] == ["p0_v2", "p0_v3", "p6"]
    assert main(["dataset", "split", str(ds), "--folds", "3", "--test", "1"]) == 0
    out = capsys.readouterr().out
    assert "kept together: p0, p0_v2, p0_v3" in out and "kept together: p1, p6" in out
    splits = json.loads((ds / "splits.json").read_text(encoding="utf-8"))
    names = {c.name for c in load_dataset(ds).cases}
    together = [{"p0", "p0_v2", "p0_v3"}, {"p1", "p6"}]
    assert len(splits["folds"]) == 3 and len(splits["test"]) == 1
    vals = [set(f["val"]) for f in splits["folds"]]
    assert sorted(map(len, vals)) == [2, 3, 3]  # 8 cases in groups of 3, 2, 1, 1, 1: as even as groups allow
    assert set().union(*vals) | set(splits["test"]) == names and sum(map(len, vals)) + 1 == len(names)
    for fold in splits["folds"]:
        train, val = set(fold["train"]), set(fold["val"])
        assert train | val | set(splits["test"]) == names and not train & val
        for group in together:
            assert group <= train or group <= val or group <= set(splits["test"])
    assert main(["dataset", "split", str(ds), "--folds", "3"]) == 1
    assert "already exists" in capsys.readouterr().err
    # The split itself is sound; check still names the scan that is in the dataset twice.
    assert main(["dataset", "check", str(ds)]) == 1
    problems = [line for line in capsys.readouterr().out.splitlines() if line.startswith("problem:")]
    assert problems == ["problem: cases p1 and p6 have identical image voxels (the same scan under two names): "
                        "remove one of them from dataset.json"]
    assert main(["dataset", "split", str(ds), "--folds", "9", "--overwrite"]) == 1
    assert "too few for 9 folds" in capsys.readouterr().err


def test_check_and_training_refuse_a_split_with_a_version_on_both_sides(tmp_path, capsys):
    from RadioWMHSegLib.dataset_split import fold_case_names
    from RadioWMHSegLib.errors import DatasetError

    ds = _dataset_with_versions(tmp_path / "ds")
    names = [c.name for c in load_dataset(ds).cases]
    val = ["p0_v2", "p2"]
    (ds / "splits.json").write_text(json.dumps([{"train": [n for n in names if n not in val], "val": val}]))
    assert main(["dataset", "check", str(ds)]) == 1
    assert "fold 0: case p0_v2 is validated on while its version/duplicate p0, p0_v3 is trained on" in \
        capsys.readouterr().out
    with pytest.raises(DatasetError, match="does not fit the dataset"):
        fold_case_names(load_dataset(ds), 0)


# ----------------------------------------------------------------------------- the real cases


def test_bulk_add_check_and_split_of_the_shared_cases(shared_data, tmp_path, capsys):
    source = shared_data / "sim_vent_wmh"
    if not source.is_dir():
        pytest.skip("sim_vent_wmh is not in ../shared/data")
    ds = tmp_path / "MyWMH"
    assert main(["dataset", "add", str(ds), "--cases-dir", str(source), "--image-pattern", "FLAIR.nii.gz",
                 "--label-pattern", "WMH.nii.gz"]) == 0
    assert "added 5 case(s)" in capsys.readouterr().out
    assert main(["dataset", "check", str(ds)]) == 0
    assert main(["dataset", "split", str(ds), "--folds", "5"]) == 0
    splits = json.loads((ds / "splits.json").read_text(encoding="utf-8"))
    assert sorted(n for f in splits["folds"] for n in f["val"]) == sorted(p.name for p in source.glob("case_*"))


# ----------------------------------------------------------------------------- removing cases


def test_removing_a_case_takes_it_out_of_training_and_keeps_its_files(tmp_path, capsys):
    from RadioWMHSegLib.datasets import load_dataset

    ds, _ = _tiny_dataset_with_split(tmp_path / "tiny")
    before = {c.name: (c.image_path.read_bytes(), c.label_path.read_bytes()) for c in load_dataset(ds).cases}
    removed = [n for n in before if n != "case_000"][:1]
    assert main(["dataset", "remove", str(ds), removed[0]]) == 0
    out = capsys.readouterr().out
    assert f"removed {removed[0]}" in out and "dataset split" in out
    assert sorted(c.name for c in load_dataset(ds).cases) == sorted(n for n in before if n != removed[0])
    # Nothing is lost: the files, the entry and the old folds are in removed/<time>/.
    (folder,) = (ds / "removed").iterdir()
    record = json.loads((folder / "removed.json").read_text(encoding="utf-8"))
    (entry,) = record["cases"]
    assert entry["case"] == removed[0]
    assert (folder / entry["image"]).read_bytes() == before[removed[0]][0]
    assert (folder / entry["label"]).read_bytes() == before[removed[0]][1]
    assert (folder / "splits.json").exists() and not (ds / "splits.json").exists()
    assert main(["dataset", "check", str(ds)]) == 0


def test_removing_an_unknown_case_changes_nothing(tmp_path, capsys):
    ds, _ = _tiny_dataset_with_split(tmp_path / "tiny")
    listing = json.loads((ds / "dataset.json").read_text(encoding="utf-8"))
    assert main(["dataset", "remove", str(ds), "case_000", "no_such_case"]) != 0
    err = capsys.readouterr().err
    assert "no_such_case not in" in err and "case_000" in err
    assert json.loads((ds / "dataset.json").read_text(encoding="utf-8")) == listing
    assert not (ds / "removed").exists()
