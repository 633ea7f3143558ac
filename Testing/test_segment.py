"""End to end with the stand-in network: geometry, determinism and the mapping back.

The phantom is segmented once for the module (`phantom_result`); tests of what segment_image does after
preprocessing (confinement to the brain, writing files) reuse that run's preprocessing, since
preprocessing has its own tests and a run costs ~15 s. The cohort test runs everything from files.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import bright_voxel_loaded_model
from phantoms import native_grid, phantom_with_blob
from RadioWMHSegLib.preprocessing import pipeline
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.metrics import dice
from RadioWMHSegLib.cohort import segment_cohort
from RadioWMHSegLib.segment import segment, segment_image


@pytest.fixture(scope="module")
def phantom():
    return phantom_with_blob()


@pytest.fixture(scope="module")
def phantom_run(phantom):
    """(result of segment_image on the phantom with the stand-in, the PreprocessedCase it was made from)."""
    cases = []

    def recording(*args, **kwargs):
        cases.append(real_preprocess(*args, **kwargs))
        return cases[-1]

    real_preprocess = pipeline.preprocess
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "preprocess", recording)
        result = segment_image(phantom[0], skull_stripped=True, model=bright_voxel_loaded_model(), device="cpu")
    return result, cases[0]


@pytest.fixture
def preprocessed_once(phantom_run, monkeypatch):
    """preprocess() answers with the phantom's case, already computed (only for the phantom)."""
    monkeypatch.setattr(pipeline, "preprocess", lambda image, **kwargs: phantom_run[1])


def test_blob_in_an_oblique_left_handed_volume_comes_back_on_the_blob(phantom, phantom_run):
    image, blob = phantom
    assert np.linalg.det(np.array(image.GetDirection()).reshape(3, 3)) < 0
    result = phantom_run[0]
    for output in (result.mask, result.probability, result.brain_mask):
        assert output.GetSize() == image.GetSize()
        assert np.allclose(output.GetOrigin(), image.GetOrigin())
        assert np.allclose(output.GetSpacing(), image.GetSpacing())
        assert np.allclose(output.GetDirection(), image.GetDirection())
    mask = sitk.GetArrayFromImage(result.mask)
    assert dice(mask, sitk.GetArrayFromImage(blob)) > 0.7
    assert result.stats.count == 1
    # The lesion's centre lands within one voxel of the blob's centre, in physical space.
    blob_zyx = np.argwhere(sitk.GetArrayFromImage(blob) > 0).mean(axis=0)
    blob_centre = image.TransformContinuousIndexToPhysicalPoint(blob_zyx[::-1].tolist())
    assert np.linalg.norm(np.subtract(result.stats.lesions[0].centre_mm, blob_centre)) < 1.6
    # Stages are recorded with their parameters, so every output can be traced back.
    stages = [s["stage"] for s in result.record["stages"]]
    assert "network" in stages and len(stages) >= 5


def test_same_input_gives_the_same_mask(phantom, phantom_run, bright_voxel_model):
    image, _ = phantom
    again = segment_image(image, skull_stripped=True, model=bright_voxel_model, device="cpu")  # preprocessing too
    first = phantom_run[0]
    assert np.array_equal(sitk.GetArrayFromImage(first.probability), sitk.GetArrayFromImage(again.probability))


def test_files_in_and_out_and_nothing_overwritten(tmp_path, phantom, bright_voxel_model, preprocessed_once):
    image, blob = phantom
    flair = tmp_path / "case01.nii.gz"
    sitk.WriteImage(image, str(flair))
    sitk.WriteImage(blob, str(tmp_path / "truth.nii.gz"))
    out = tmp_path / "out"
    result = segment(flair, out / "wmh.nii.gz", prob=out / "prob.nii.gz", stats=out / "stats.json",
                     png=out / "overlay.png", reference=tmp_path / "truth.nii.gz",
                     skull_stripped=True, model=bright_voxel_model, device="cpu")
    written = sitk.ReadImage(str(out / "wmh.nii.gz"))
    assert written.GetSize() == image.GetSize()
    assert np.allclose(written.GetDirection(), image.GetDirection(), atol=1e-5)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["count"] == result.stats.count
    assert (out / "overlay.png").stat().st_size > 1000
    assert result.record["metrics_vs_reference"]["dsc"] > 0.7
    with pytest.raises(InputError, match="already exists"):
        segment(flair, out / "wmh.nii.gz", model=bright_voxel_model, skull_stripped=True, device="cpu")


def test_a_cohort_goes_on_past_a_bad_case_and_skips_done_ones(tmp_path, bright_voxel_model):
    image, _ = phantom_with_blob(native_grid(size=(70, 80, 64), spacing=(2.4, 2.4, 2.6)))
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    sitk.WriteImage(image, str(cohort / "good.nii.gz"))
    (cohort / "broken.nii.gz").write_bytes(b"not an image")
    rows = segment_cohort([cohort], tmp_path / "out", model=bright_voxel_model, device="cpu",
                          skull_stripped=True, show_progress=False)
    status = {r["case"]: r["status"] for r in rows}
    assert status == {"good": "done", "broken": "failed"}
    assert (tmp_path / "out" / "good_wmh.nii.gz").exists()
    assert not (tmp_path / "out" / "broken_wmh.nii.gz").exists()
    again = segment_cohort([cohort], tmp_path / "out", model=bright_voxel_model, device="cpu",
                           skull_stripped=True, show_progress=False)
    assert {r["case"]: r["status"] for r in again}["good"] == "skipped"
    assert "good" in (tmp_path / "out" / "cohort_summary.csv").read_text(encoding="utf-8")


def test_wmh_never_leaves_the_brain_whatever_the_network_says(phantom, preprocessed_once):
    """A network that calls every voxel WMH (scalp, air, everything) still yields WMH only inside
    the brain mask: scalp, skull, orbits and air are never WMH."""
    everything = bright_voxel_loaded_model(threshold=-100.0, name="calls-everything-wmh")
    image, _ = phantom
    result = segment_image(image, skull_stripped=True, model=everything, device="cpu", min_lesion_mm3=0)
    mask = sitk.GetArrayFromImage(result.mask) > 0
    brain = sitk.GetArrayFromImage(result.brain_mask) > 0
    assert mask.sum() > 0.9 * brain.sum()  # the network did call (almost) the whole brain WMH
    assert not np.any(mask & ~brain)
    assert float(sitk.GetArrayFromImage(result.probability)[~brain].max()) == 0.0


@pytest.mark.parametrize("fp32_s, bf16_s, expected", [(2.2, 1.0, "bf16"), (1.0, 3.0, "fp32")])
def test_segmenting_without_a_precision_runs_bf16_only_where_this_machine_is_faster_in_it(
        phantom, bright_voxel_model, preprocessed_once, monkeypatch, fp32_s, bf16_s, expected):
    # The default is 'auto' (chosen on 20 cases, docs/precision_validation.json): bf16 where precision.py
    # measures it faster (native bf16), fp32 where bf16 is emulated. The timer is faked; the cache is per test.
    from RadioWMHSegLib import precision

    monkeypatch.setattr(precision, "_seconds_per_step", lambda dtype_bf16, **timing: bf16_s if dtype_bf16 else fp32_s)
    result = segment_image(phantom[0], skull_stripped=True, model=bright_voxel_model, device="cpu")
    network = next(s for s in result.record["stages"] if s["stage"] == "network")
    assert network["parameters"]["precision"] == expected
