"""benchmarks/choose_model.py: the rules that decide which weights ship (docs/model.md, from version 6)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import choose_model  # noqa: E402  (after the path)

CROP = "real_case_crop_dice (counted twice)"


def _scores(crop=0.5, synthetic=1.0, raw_dice=0.6, raw_f1=0.7, called_wmh=(0.01, 0.03), region=0.0):
    """choose_model's score names: the real crop Dice, seven synthetic numbers, the two raw real numbers, and the
    tumour/oedema region's Dice on three glioma sets (counted by real-half-label2 only)."""
    scores = {CROP: crop, "glioma_val_wmh_dice_outside": synthetic,
              "glioma_val_1_minus_pathology_called_wmh": 1 - called_wmh[0],
              "glioma_severe_val_wmh_dice_outside": synthetic,
              "glioma_severe_val_1_minus_pathology_called_wmh": 1 - called_wmh[1],
              "rad_severe_val_wmh_dice": synthetic, "rad_severe_val_1_minus_wmh_called_pathology": synthetic,
              "glioma_extreme_val_wmh_dice_outside": synthetic, "real_raw_dice": raw_dice, "real_raw_lesion_f1": raw_f1,
              "label2_glioma_val_pathology_region_dice": region,
              "label2_glioma_severe_val_pathology_region_dice": region,
              "label2_glioma_extreme_val_pathology_region_dice": region}
    return scores


def test_the_v6_rule_counts_the_real_crop_dice_twice_among_nine_and_ignores_the_raw_scan():
    scores = _scores(called_wmh=(0.0, 0.0))  # seven synthetic numbers of 1.0, crop 0.5
    assert choose_model.rule_score(scores, "v6") == pytest.approx((7 * 1.0 + 2 * 0.5) / 9, abs=1e-4)
    scores["real_raw_dice"] = 0.0
    assert choose_model.rule_score(scores, "v6") == pytest.approx((7 * 1.0 + 2 * 0.5) / 9, abs=1e-4)


def test_the_real_half_rule_weighs_the_three_real_numbers_as_much_as_the_seven_synthetic_ones():
    scores = _scores(called_wmh=(0.0, 0.0))
    assert choose_model.rule_score(scores, "real-half") == pytest.approx(0.5 * 0.6 + 0.5 * 1.0, abs=1e-4)
    better_raw = _scores(raw_dice=0.9, raw_f1=0.9, called_wmh=(0.0, 0.0))
    assert choose_model.rule_score(better_raw, "real-half") > choose_model.rule_score(scores, "real-half")


def test_the_label2_rule_counts_the_tumour_region_dice_among_the_synthetic_numbers_and_the_older_rules_do_not():
    scores = _scores(called_wmh=(0.0, 0.0), region=0.0)  # seven synthetic numbers of 1.0, three region Dice of 0
    assert choose_model.rule_score(scores, "real-half-label2") == pytest.approx(0.5 * 0.6 + 0.5 * 0.7, abs=1e-4)
    better_region = _scores(called_wmh=(0.0, 0.0), region=1.0)
    label2 = "real-half-label2"
    assert choose_model.rule_score(better_region, label2) > choose_model.rule_score(scores, label2)
    for rule in ("v6", "real-half"):
        assert choose_model.rule_score(better_region, rule) == choose_model.rule_score(scores, rule)


def test_the_tumour_guard_refuses_a_glioma_set_above_five_percent_called_wmh_and_only_that_set():
    assert choose_model.tumour_guard_failures(_scores(called_wmh=(0.004, 0.05))) == []  # 5 % is the target
    assert choose_model.tumour_guard_failures(_scores(called_wmh=(0.004, 0.104))) == ["glioma_severe_val"]


def test_a_model_scored_for_the_record_or_refused_by_a_guard_is_never_chosen_however_high_it_scores():
    results = {"bundled": {"mean": 0.67}, "old": {"mean": 0.69}, "new": {"mean": 0.68}, "wild": {"mean": 0.75}}
    assert choose_model.choose(results, {}, {}, []) == "wild"
    assert choose_model.choose(results, {"wild": ["scan.nii.gz"]}, {}, ["old"]) == "new"
    assert choose_model.choose(results, {}, {"wild": ["glioma_val"], "new": []}, ["old"]) == "new"
    assert choose_model.choose(results, {"new": ["scan.nii.gz"]}, {"wild": ["glioma_val"]}, ["old"]) == "bundled"
    assert choose_model.choose({"new": {"mean": 0.7}}, {"new": ["scan.nii.gz"]}, {}, []) is None


def test_the_real_half_rule_without_the_raw_scan_is_refused_in_one_line(tmp_path):
    command = [sys.executable, str(BENCHMARKS / "choose_model.py"), "bundled", "-o", str(tmp_path / "c.json"),
               "--rule", "real-half", "--real", "ds:case", "--glioma", "g", "--severe", "s", "--glioma-extreme", "e"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0 and "--real-raw" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run(command + ["--real-raw", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "FLAIR.nii.gz and WMH.nii.gz" in done.stderr
    assert not (tmp_path / "c.json").exists()


def test_the_unscored_region_is_left_out_of_truth_and_prediction_alike():
    import numpy as np
    import SimpleITK as sitk

    truth, mask, unscored = (np.zeros((8, 32, 32), np.uint8) for _ in range(3))
    truth[2:6, 4:10, 4:10] = 1          # a focal lesion, found
    mask[2:6, 4:10, 4:10] = 1
    truth[2:6, 20:24, 14:18] = 1        # a band the annotator marked, missed by the model
    mask[2:6, 26:30, 14:18] = 1         # a band the annotator did not mark, called by the model
    unscored[:, 18:32, 10:20] = 1       # the region whose convention differs
    images = [sitk.GetImageFromArray(a) for a in (mask, truth, unscored)]
    everything = choose_model.scores_outside(images[0], images[1])
    outside = choose_model.scores_outside(images[0], images[1], images[2])
    assert everything["real_raw_dice"] < 0.8 and everything["real_raw_lesion_f1"] == pytest.approx(0.5)
    assert outside == {"real_raw_dice": 1.0, "real_raw_lesion_f1": 1.0}
