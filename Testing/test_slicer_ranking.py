"""The Slicer side of uncertainty and of the other-pathology class, headless with slicer-core.

The uncertainty volume and the second segment of a result, label 2 in an exported case, the ranking
table and "Load next case", and the background jobs that ask for them.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # noqa: F401  (slicer-core, installed by .[test]: a missing one must fail, not skip)

from conftest import bright_mask
from RadioWMHSegLib import background_job, model_io, slicer_logic, slicer_ranking, slicer_segments
from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.segment_options import SegmentOptions
from RadioWMHSegLib.slicer_logic import RadioWMHSegLogic
from tiny_datasets import tiny_model_folder


def halves(volume):
    """(WMH mask, pathology mask): the bright voxels split by the volume's x index."""
    bright = sitk.GetArrayFromImage(bright_mask(volume))
    left = np.zeros_like(bright)
    left[..., : bright.shape[-1] // 2] = 1
    images = []
    for array in (bright * left, bright * (1 - left)):
        image = sitk.GetImageFromArray(array.astype(np.uint8))
        image.CopyInformation(slicer_logic.volume_to_sitk(volume))
        images.append(image)
    return images


def test_a_pathology_segment_is_exported_as_label_2_and_opens_again_as_itself(scene, flair_file, tmp_path):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    wmh, pathology = halves(volume)
    assert sitk.GetArrayFromImage(wmh).sum() > 0 and sitk.GetArrayFromImage(pathology).sum() > 0
    logic = RadioWMHSegLogic()
    uncertainty = sitk.Cast(slicer_logic.volume_to_sitk(volume) / 1000.0, sitk.sitkFloat32)
    segmentation = logic.loadResult(volume, wmh, pathology=pathology, uncertainty=uncertainty)
    names = {segmentation.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(segmentation.GetSegmentation().GetNumberOfSegments())}
    assert names == {"WMH", slicer_segments.PATHOLOGY_SEGMENT_NAME}
    assert np.array_equal(sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(segmentation, volume)),
                          sitk.GetArrayFromImage(wmh))  # WMH is still found by name beside the second segment
    assert slicer_logic.same_grid(slicer_logic.volume_to_sitk(logic.uncertaintyVolume(segmentation)), wmh)
    pathology_ml = sitk.GetArrayFromImage(pathology).sum() * np.prod(pathology.GetSpacing()) / 1000.0
    assert f"{slicer_segments.PATHOLOGY_SEGMENT_NAME}: {pathology_ml:.2f} mL (not counted as WMH)" in \
        logic.resultSummary(segmentation).splitlines()  # the panel shows what was excluded, and how much

    case = logic.exportCase(volume, segmentation, tmp_path / "ds")
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(case.label_path)))
    expected = sitk.GetArrayFromImage(wmh) + 2 * sitk.GetArrayFromImage(pathology)
    assert np.array_equal(label, expected)
    assert case.metadata["other_pathology_volume_ml"] > 0

    volume2, reopened = logic.loadCase(case.image_path, case.label_path, scene=scene)
    back = slicer_segments.pathology_segment_id(reopened)
    assert back and np.array_equal(sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(reopened, volume2, back)),
                                   sitk.GetArrayFromImage(pathology))
    assert sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(reopened, volume2)).sum() == sitk.GetArrayFromImage(wmh).sum()

    # The annotator erased every pathology voxel: the summary says 0 mL instead of failing.
    empty = sitk.Image(pathology.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(pathology)
    slicer_segments.set_mask_to_segment(segmentation, empty, slicer_segments.pathology_segment_id(segmentation))
    assert f"{slicer_segments.PATHOLOGY_SEGMENT_NAME}: 0.00 mL (not counted as WMH)" in logic.resultSummary(segmentation)

    # The annotator removed the pathology segment: nothing is exported as label 2.
    segmentation.GetSegmentation().RemoveSegment(slicer_segments.pathology_segment_id(segmentation))
    again = logic.exportCase(volume, segmentation, tmp_path / "ds")
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(again.label_path))), sitk.GetArrayFromImage(wmh))


def test_an_unscored_segment_is_exported_as_label_3_over_wmh_and_opens_again_as_itself(scene, flair_file, tmp_path):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    wmh, _ = halves(volume)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadResult(volume, wmh)
    array = sitk.GetArrayFromImage(wmh)
    unscored_array = np.zeros_like(array)
    unscored_array[: array.shape[0] // 2] = 1  # the annotator is not sure of the lower half, WMH included
    unscored = sitk.GetImageFromArray(unscored_array)
    unscored.CopyInformation(wmh)
    assert (array * unscored_array).sum() > 0 and (array * (1 - unscored_array)).sum() > 0
    slicer_segments.set_mask_to_segment(segmentation, unscored, slicer_segments.unscored_segment_id(segmentation, True))
    assert np.array_equal(sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(segmentation, volume)), array)

    case = logic.exportCase(volume, segmentation, tmp_path / "ds")
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(case.label_path)))
    assert np.array_equal(label, np.where(unscored_array > 0, 3, array))
    assert case.metadata["unscored_volume_ml"] > 0

    volume2, reopened = logic.loadCase(case.image_path, case.label_path, scene=scene)
    back = slicer_segments.unscored_segment_id(reopened)
    assert back and np.array_equal(sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(reopened, volume2, back)),
                                   unscored_array)
    assert np.array_equal(sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(reopened, volume2)),
                          array * (1 - unscored_array))  # WMH is found by name beside it, and lost where unscored
    # A label with no tumour/oedema (label 2) opens without an empty "Tumour / oedema" segment beside them.
    assert slicer_segments.pathology_segment_id(reopened) is None


def make_results(folder, flair, volume):
    """A results folder as `radiowmhseg segment --uncertainty` writes it, for two cases of the same FLAIR."""
    folder.mkdir()
    wmh, pathology = halves(volume)
    for case, uncertain_ml in (("calm", 0.5), ("torn", 4.0)):
        sitk.WriteImage(wmh, str(folder / f"{case}_wmh.nii.gz"))
        sitk.WriteImage(sitk.Cast(wmh, sitk.sitkFloat32) * 0.3, str(folder / f"{case}_wmh_uncertainty.nii.gz"))
        sitk.WriteImage(pathology, str(folder / f"{case}_other_pathology.nii.gz"))
        document = {"input": str(flair), "total_volume_ml": 1.0, "count": 1, "lesions": [],
                    "uncertainty": {"uncertain_volume_ml": uncertain_ml, "uncertain_fraction": 0.5, "mean_in_wmh": 0.2},
                    "settings": {"tta": True}, "processing": {"model": {"name": "m"}, "quality": {"warnings": []}}}
        (folder / f"{case}_stats.json").write_text(json.dumps(document))


def test_the_ranking_table_and_load_next_case_open_the_most_uncertain_case_not_opened_yet(scene, flair_file, tmp_path):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    results = tmp_path / "results"
    make_results(results, flair_file, volume)
    shown = []
    slicer_ranking.rank_folder(str(results), scene, jobs=None, options=SegmentOptions(), show=shown.append)
    table = shown[0]
    assert [table.GetCellText(r, 1) for r in range(table.GetNumberOfRows())] == ["torn", "calm"]
    logic = RadioWMHSegLogic()
    first, segmentation = slicer_ranking.load_next_case(logic, table, scene)
    assert first.GetAttribute(slicer_ranking.RANKED_CASE_ATTRIBUTE).endswith("torn")
    assert logic.uncertaintyVolume(segmentation) is not None and slicer_segments.pathology_segment_id(segmentation)
    assert logic.originalPrediction(segmentation) is not None  # an export reports the Dice of the correction
    assert logic.statistics(segmentation)["uncertainty"]["uncertain_volume_ml"] == 4.0
    assert table.GetCellText(0, 6) == "yes" and table.GetCellText(1, 6) == ""
    second, _ = slicer_ranking.load_next_case(logic, table, scene)
    assert second.GetAttribute(slicer_ranking.RANKED_CASE_ATTRIBUTE).endswith("calm")
    with pytest.raises(InputError, match="open already"):
        slicer_ranking.load_next_case(logic, table, scene)


def test_a_folder_of_flairs_is_ranked_by_a_background_job_into_a_sibling_results_folder(scene, flair_file, tmp_path):
    class Jobs:
        def start_rank(self, inputs, results, options, on_success):
            self.call = (inputs, results, options)

    jobs = Jobs()
    options = SegmentOptions(device="cpu")
    assert slicer_ranking.rank_folder(str(flair_file.parent), scene, jobs, options, show=None) is None
    assert jobs.call == ([flair_file.parent.resolve()],
                         flair_file.parent.resolve().parent / (flair_file.parent.name + "_radiowmhseg_results"), options)


def test_job_arguments_for_uncertainty_and_ranking_are_those_the_command_line_accepts(tmp_path):
    from RadioWMHSegLib.cli import build_parser

    parser = build_parser()
    arguments, outputs = background_job.segment_job(tmp_path / "in.nrrd", tmp_path, SegmentOptions(uncertainty=True))
    assert parser.parse_args(arguments).uncertainty == str(outputs["uncertainty"])
    # The other-pathology output is asked for exactly when the model has that class.
    bundled_classes = model_io.class_names(model_io.read_card(model_io.bundled_model_dir()))
    assert ("pathology" in outputs) == ("other_pathology" in bundled_classes)
    two_class = tiny_model_folder(tmp_path / "models", "two-class")
    _, outputs = background_job.segment_job(tmp_path / "in.nrrd", tmp_path, SegmentOptions(model=str(two_class)))
    assert "pathology" not in outputs
    parsed = parser.parse_args(background_job.rank_job([tmp_path / "flairs"], tmp_path / "res",
                                                       SegmentOptions(threshold=0.3)))
    assert (parsed.inputs, parsed.results, parsed.threshold) == ([str(tmp_path / "flairs")], str(tmp_path / "res"), 0.3)


@pytest.mark.slow
def test_segment_a_volume_node_with_uncertainty_and_a_three_class_model(scene, tmp_path):
    from conftest import three_class_model
    from phantoms import two_blob_phantom

    image = two_blob_phantom()
    sitk.WriteImage(image, str(tmp_path / "phantom.nii.gz"))
    volume = slicer_logic.read_volume_file(tmp_path / "phantom.nii.gz", scene)
    logic = RadioWMHSegLogic()
    options = SegmentOptions(skull_stripped=True, device="cpu", model=three_class_model(), uncertainty=True)
    segmentation = logic.segment(volume, options=options)
    assert logic.uncertaintyVolume(segmentation) is not None
    assert "Uncertain" in logic.resultSummary(segmentation)
    pathology = slicer_logic.segment_to_sitk(segmentation, volume, slicer_segments.pathology_segment_id(segmentation))
    assert sitk.GetArrayFromImage(pathology).sum() > 0
