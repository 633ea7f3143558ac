"""The MRML side (RadioWMHSegLib.slicer_logic) headless with slicer-core. The background job runner:
test_background_job.py.

Geometry is checked against SimpleITK's reading of the same file; the .seg.nrrd files that 3D Slicer
wrote (shipped in slicerio's wheel) check that Slicer's own segmentations are read as Slicer means them.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # slicer-core and slicerio, installed by .[test]: a missing one must fail, not skip
import slicerio

from conftest import bright_mask, oblique_left_handed_volume
from RadioWMHSegLib import slicer_geometry, slicer_logic, slicer_segments
from RadioWMHSegLib.metrics import dice
from RadioWMHSegLib.segment_options import SegmentOptions
from RadioWMHSegLib.slicer_logic import RadioWMHSegLogic


def physically_equal(image, reference, interpolator=sitk.sitkNearestNeighbor):
    """True when image, sampled at the reference's voxel centres, equals the reference voxel for voxel."""
    resampled = sitk.Resample(image, reference, sitk.Transform(), interpolator, 0, image.GetPixelID())
    return np.array_equal(sitk.GetArrayFromImage(resampled), sitk.GetArrayFromImage(reference))


def put_under_a_study(scene, node):
    hierarchy = scene.GetSubjectHierarchyNode()
    patient = hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "Patient 1")
    study = hierarchy.CreateStudyItem(patient, "MRI 2024")
    item = hierarchy.GetItemByDataNode(node)
    if item:
        hierarchy.SetItemParent(item, study)
    else:  # slicer-core makes no subject hierarchy items by itself (Slicer's GUI does)
        hierarchy.CreateItem(study, node)
    return study


# ---------------------------------------------------------------- volumes and geometry

@pytest.mark.parametrize("ending", [".nii.gz", ".nrrd"])
def test_a_left_handed_file_keeps_its_physical_geometry(scene, tmp_path, ending):
    image = oblique_left_handed_volume(shape=(20, 22, 18))
    path = tmp_path / f"flair{ending}"
    sitk.WriteImage(image, str(path))
    node = slicer_logic.read_volume_file(path, scene)
    converted = slicer_logic.volume_to_sitk(node)
    # Slicer's reader turns a left-handed grid right-handed (slice order reversed): the same voxels in space.
    assert np.linalg.det(np.array(converted.GetDirection()).reshape(3, 3)) > 0
    assert physically_equal(sitk.ReadImage(str(path), sitk.sitkFloat32), converted)
    # Back into a node and out again: nothing moves.
    again = slicer_logic.volume_to_sitk(slicer_logic.sitk_to_volume_node(converted, scene, "copy"))
    assert slicer_logic.same_grid(again, converted, tolerance=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(again), sitk.GetArrayFromImage(converted))


def test_an_image_put_into_a_node_keeps_its_own_left_handed_grid(scene):
    image = oblique_left_handed_volume(shape=(12, 14, 10))
    node = slicer_logic.sitk_to_volume_node(image, scene, "direct")
    back = slicer_logic.volume_to_sitk(node)
    assert slicer_logic.same_grid(back, image, tolerance=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_a_volume_without_voxels_is_refused(scene):
    from RadioWMHSegLib.errors import InputError

    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    with pytest.raises(InputError, match="holds no image"):
        slicer_logic.volume_to_sitk(empty)


# ---------------------------------------------------------------- result nodes

def test_result_nodes_sit_on_the_input_grid_under_its_study(scene, flair_file):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    study = put_under_a_study(scene, volume)
    mask = bright_mask(volume)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadResult(volume, mask, probability=slicer_logic.volume_to_sitk(volume) / 400.0)

    assert segmentation.GetName() == "patient_flair WMH"
    segment_id = slicer_logic.wmh_segment_id(segmentation)
    segment = segmentation.GetSegmentation().GetSegment(segment_id)
    assert segment.GetName() == "WMH"
    assert segment.GetColor() == pytest.approx(slicer_logic.WMH_COLOR)
    terminology = slicerio.segmentation.terminology_entry_from_string(slicer_logic.WMH_TERMINOLOGY)
    assert terminology["type"] == ["SCT", "52988006", "Lesion"]
    assert segment.GetTerminology() == slicer_logic.WMH_TERMINOLOGY
    assert segmentation.GetSegmentation().ContainsRepresentation("Closed surface")  # shown in 3D
    hierarchy = scene.GetSubjectHierarchyNode()
    for node in (segmentation, logic.lesionTable(segmentation), logic.probabilityVolume(segmentation)):
        assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(node)) == study

    back = slicer_logic.segment_to_sitk(segmentation, volume)
    assert slicer_logic.same_grid(back, slicer_logic.volume_to_sitk(volume))
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(mask))
    # The exported labelmap is the blobs of the original (left-handed) file, in physical space.
    original = sitk.ReadImage(str(flair_file), sitk.sitkFloat32)
    assert physically_equal(back, sitk.Cast(original > 300, sitk.sitkUInt8))

    stats = logic.statistics(segmentation)
    voxel_ml = np.prod(slicer_logic.volume_to_sitk(volume).GetSpacing()) / 1000.0
    assert stats["count"] == 2
    assert stats["total_volume_ml"] == pytest.approx(sitk.GetArrayFromImage(mask).sum() * voxel_ml)
    assert segmentation.GetAttribute("RadioWMHSeg.LesionCount") == "2"
    table = logic.lesionTable(segmentation)
    assert table.GetNumberOfRows() == 2
    # Lesion centres are in RAS: the first row's centre lies inside the largest blob.
    ras = [table.GetCellText(0, c) for c in range(3, 6)]
    lps = (-float(ras[0]), -float(ras[1]), float(ras[2]))
    index = back.TransformPhysicalPointToIndex(lps)
    assert back[index] == 1
    probability = slicer_logic.volume_to_sitk(logic.probabilityVolume(segmentation))
    assert slicer_logic.same_grid(probability, back)


def test_an_empty_result_still_has_its_wmh_segment(scene, flair_file):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    empty = sitk.Cast(slicer_logic.volume_to_sitk(volume) > 1e9, sitk.sitkUInt8)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadResult(volume, empty)
    assert slicer_logic.wmh_segment_id(segmentation)
    assert sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(segmentation, volume)).sum() == 0
    assert logic.statistics(segmentation)["count"] == 0
    assert logic.lesionTable(segmentation).GetNumberOfRows() == 0


# ---------------------------------------------------------------- editing and export

def edit_segment(segmentation, volume, add_box, remove_box):
    """Edit as the Segment Editor does: merge a painted region in, erase another (index boxes, z y x)."""
    reference = slicer_logic.volume_to_sitk(volume)
    segment_id = slicer_logic.wmh_segment_id(segmentation)
    logic_class = slicer.vtkSlicerSegmentationsModuleLogic
    for box, value, mode in ((add_box, 1, logic_class.MODE_MERGE_MAX), (remove_box, 0, logic_class.MODE_MERGE_MIN)):
        # The modifier acts inside the box only: ones merged by maximum paint, zeros merged by minimum erase.
        array = np.zeros(sitk.GetArrayViewFromImage(reference).shape, np.uint8)
        array[box] = value
        modifier = sitk.GetImageFromArray(array)
        modifier.CopyInformation(reference)
        extent = [box[2].start, box[2].stop - 1, box[1].start, box[1].stop - 1, box[0].start, box[0].stop - 1]
        assert logic_class.SetBinaryLabelmapToSegment(slicer_segments._oriented_image_from_sitk(modifier), segmentation,
                                                      segment_id, mode, extent)


def test_an_edited_segment_exports_as_a_training_case_that_reads_back_equal(scene, flair_file, tmp_path):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    logic = RadioWMHSegLogic()
    predicted = bright_mask(volume)
    segmentation = logic.loadResult(volume, predicted, modelInfo={"name": "test-model", "weights_sha256": "abc"})

    add_box = (slice(2, 6), slice(3, 8), slice(4, 9))  # a lesion the model missed
    expected = sitk.GetArrayFromImage(predicted).copy()
    blob_voxels = np.argwhere(expected > 0)
    z0 = blob_voxels[:, 0].min()
    remove_box = (slice(z0, z0 + 2), slice(0, expected.shape[1]), slice(0, expected.shape[2]))  # a false positive
    edit_segment(segmentation, volume, add_box, remove_box)
    expected[add_box] = 1
    expected[remove_box] = 0
    assert sitk.GetArrayFromImage(predicted).sum() != expected.sum()

    dataset = tmp_path / "MyCorrections"
    case = logic.exportCase(volume, segmentation, dataset, annotator="Dr Example")
    assert case.name == "patient_flair"

    # SimpleITK: label equal to the edit, on the FLAIR's grid; FLAIR unchanged in space; prediction kept.
    label = sitk.ReadImage(str(case.label_path))
    image = sitk.ReadImage(str(case.image_path))
    assert slicer_logic.same_grid(label, image)
    assert np.array_equal(sitk.GetArrayFromImage(label), expected)
    assert physically_equal(sitk.ReadImage(str(flair_file), sitk.sitkFloat32), sitk.Cast(image, sitk.sitkFloat32))
    prediction = sitk.ReadImage(str(case.prediction_path))
    assert np.array_equal(sitk.GetArrayFromImage(prediction), sitk.GetArrayFromImage(predicted))

    entry = json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))["training"][0]
    assert entry["annotator"] == "Dr Example" and entry["model"] == "test-model" and entry["date"]
    assert entry["dice_original_vs_corrected"] == pytest.approx(dice(sitk.GetArrayFromImage(predicted), expected), abs=1e-4)
    assert logic.correctionDice(volume, segmentation) == pytest.approx(entry["dice_original_vs_corrected"], abs=1e-4)

    # slicerio: the segmentation as Slicer saves it (.seg.nrrd) holds the same voxels, named and coded.
    seg_file = tmp_path / "edited.seg.nrrd"
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(seg_file))
    assert storage.WriteData(segmentation)
    saved = slicerio.read_segmentation(str(seg_file))
    assert slicerio.segment_names(saved) == ["WMH"]
    segment = slicerio.segment_from_name(saved, "WMH")
    assert segment["terminology"]["type"][1] == "52988006"
    mask_ijk = slicerio.segment_mask(saved, segment).astype(np.uint8)
    ijk_to_lps = np.asarray(saved["ijkToLPS"])
    as_image = sitk.GetImageFromArray(mask_ijk.transpose(2, 1, 0).copy())
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    as_image.SetSpacing(tuple(spacing))
    as_image.SetDirection(tuple((ijk_to_lps[:3, :3] / spacing).ravel()))
    as_image.SetOrigin(tuple(ijk_to_lps[:3, 3]))
    on_grid = sitk.Resample(as_image, label, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    assert np.array_equal(sitk.GetArrayFromImage(on_grid), expected)


def test_a_second_export_makes_a_new_version_and_keeps_the_first(scene, flair_file, tmp_path):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadResult(volume, bright_mask(volume))
    dataset = tmp_path / "ds"
    first = logic.exportCase(volume, segmentation, dataset, caseName="case 1")
    first_bytes = first.label_path.read_bytes()
    second = logic.exportCase(volume, segmentation, dataset, caseName="case 1")
    assert (first.name, second.name) == ("case_1", "case_1_v2")
    assert first.label_path.read_bytes() == first_bytes
    assert [e["case"] for e in json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))["training"]] == ["case_1", "case_1_v2"]


def test_an_exported_case_opens_again_for_more_editing(scene, flair_file, tmp_path):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    logic = RadioWMHSegLogic()
    predicted = bright_mask(volume)
    segmentation = logic.loadResult(volume, predicted, modelInfo={"name": "test-model"})
    edit_segment(segmentation, volume, (slice(2, 5), slice(2, 5), slice(2, 5)), (slice(0, 1), slice(0, 1), slice(0, 1)))
    case = logic.exportCase(volume, segmentation, tmp_path / "ds")

    other_scene = slicer.vtkMRMLScene()
    loaded_volume, loaded_segmentation = logic.loadDatasetCase(case.image_path, scene=other_scene)
    label = sitk.ReadImage(str(case.label_path))
    assert np.array_equal(sitk.GetArrayFromImage(slicer_logic.segment_to_sitk(loaded_segmentation, loaded_volume)),
                          sitk.GetArrayFromImage(label))
    # The model's original output comes back too, so a re-export still reports Dice against it.
    assert logic.correctionDice(loaded_volume, loaded_segmentation) == pytest.approx(
        case.metadata["dice_original_vs_corrected"], abs=1e-4)
    assert logic.modelInfo(loaded_segmentation)["name"] == "test-model"


def test_every_export_of_a_flair_shares_its_case_id_and_counts_its_version(scene, flair_file, tmp_path):
    """dataset.json groups versions of one case ("case_id", "version"), so a split never puts a copy in val."""
    volume = slicer_logic.read_volume_file(flair_file, scene)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadResult(volume, bright_mask(volume))
    dataset = tmp_path / "ds"
    first = logic.exportCase(volume, segmentation, dataset, caseName="first name")
    volume.SetName("renamed")  # a new name is not a new case
    second = logic.exportCase(volume, segmentation, dataset)
    # The case opened again (Slicer turns the left-handed file right-handed on reading) is still the same case...
    loaded_volume, loaded_segmentation = logic.loadDatasetCase(first.image_path, scene=slicer.vtkMRMLScene())
    third = logic.exportCase(loaded_volume, loaded_segmentation, dataset)
    # ...and so is the same FLAIR read straight from its file, even without the attribute loading sets.
    again = slicer_logic.read_volume_file(first.image_path, scene)
    fourth = logic.exportCase(again, segmentation, dataset)
    other = slicer_logic.read_volume_file(flair_file, scene)
    image = slicer_logic.volume_to_sitk(other)
    image[0, 0, 0] = image[0, 0, 0] + 1.0  # one voxel differs: another FLAIR
    other_case = logic.exportCase(slicer_logic.sitk_to_volume_node(image, scene, "other"), segmentation, dataset)

    entries = {e["case"]: e for e in json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))["training"]}
    same = [entries[c.name] for c in (first, second, third, fourth)]
    assert len({e["case_id"] for e in same}) == 1 and same[0]["case_id"].startswith("flair-")
    assert [e["version"] for e in same] == [1, 2, 3, 4]
    assert entries[other_case.name]["case_id"] != same[0]["case_id"] and entries[other_case.name]["version"] == 1


def test_the_case_id_is_the_same_for_a_left_handed_file_and_slicers_right_handed_reading(scene, flair_file):
    from_file = sitk.ReadImage(str(flair_file), sitk.sitkFloat32)
    assert np.linalg.det(np.array(from_file.GetDirection()).reshape(3, 3)) < 0
    node = slicer_logic.read_volume_file(flair_file, scene)
    assert slicer_logic.flair_case_id(from_file) == slicer_logic.flair_case_id(slicer_logic.volume_to_sitk(node))


def test_a_job_result_keeps_the_options_the_skull_stripping_used_and_the_quality_warnings(scene, flair_file, tmp_path):
    volume = slicer_logic.read_volume_file(flair_file, scene)
    mask = bright_mask(volume)
    sitk.WriteImage(mask, str(tmp_path / "wmh.nrrd"))
    stats = RadioWMHSegLogic().loadResult(volume, mask).GetAttribute("RadioWMHSeg.Statistics")
    warning = "the registration scaled the template by 1.45: check that the brain mask covers the brain"
    document = {**json.loads(stats), "processing": {
        "device": "cpu (2 threads)", "model": {"name": "tiny"},
        "stages": [{"stage": "skull_strip", "parameters": {"method": "hd-bet"}},
                   {"stage": "map_back_and_threshold", "parameters": {"threshold": 0.4, "min_lesion_mm3": 5.0}}],
        "quality": {"brain_volume_ml": 1180.0, "registration_scale": 1.45, "warnings": [warning]}}}
    (tmp_path / "wmh_stats.json").write_text(json.dumps(document))
    options = SegmentOptions(threshold=0.4, min_lesion_mm3=5.0, skull_strip_method="hd-bet", tta=True)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadJobResult(volume, {"mask": tmp_path / "wmh.nrrd", "stats": tmp_path / "wmh_stats.json"},
                                       options)
    parameters = json.loads(segmentation.GetAttribute("RadioWMHSeg.Parameters"))
    assert parameters["skull_strip"] == {"method": "hd-bet"} and parameters["tta"] is True
    assert (parameters["threshold"], parameters["device"]) == (0.4, "cpu (2 threads)")
    assert logic.qualityWarnings(segmentation) == [warning]
    summary = logic.resultSummary(segmentation).splitlines()
    assert summary == [f"{logic.statistics(segmentation)['total_volume_ml']:.2f} mL in 2 lesions", f"Warning: {warning}"]
    # Without warnings the summary is the volume and the count alone.
    quiet = logic.loadResult(volume, mask, stats=json.loads(stats), quality={"warnings": []})
    assert logic.resultSummary(quiet) == summary[0] and logic.qualityWarnings(quiet) == []


def test_exporting_needs_a_dataset_folder(scene, flair_file):
    from RadioWMHSegLib.errors import InputError

    volume = slicer_logic.read_volume_file(flair_file, scene)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadResult(volume, bright_mask(volume))
    with pytest.raises(InputError, match="dataset folder"):
        logic.exportCase(volume, segmentation, "")


# ---------------------------------------------------------------- segmentations written by Slicer

@pytest.mark.parametrize("name", ["Segmentation.seg.nrrd", "SegmentationOverlapping.seg.nrrd"])
def test_seg_nrrd_files_written_by_slicer_are_read_as_slicer_means_them(scene, name):
    seg_path = slicerio.get_testdata_file(name)
    reference_volume = slicer_logic.read_volume_file(slicerio.get_testdata_file("CTChest4.nrrd"), scene)
    expected = slicerio.read_segmentation(seg_path)
    node = slicer_logic.read_segmentation_file(seg_path, scene)
    segmentation = node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == slicerio.segment_names(expected)
    reference = slicer_logic.volume_to_sitk(reference_volume)
    assert np.allclose(slicer_geometry._ijk_to_ras_from_image(reference)[:3, :3],
                       np.diag([-1, -1, 1]) @ np.asarray(expected["ijkToLPS"])[:3, :3])
    for segment in expected["segments"]:
        mask = slicer_logic.segment_to_sitk(node, reference_volume, segment["id"])
        truth = slicerio.segment_mask(expected, segment).transpose(2, 1, 0)  # (i, j, k) -> (z, y, x)
        assert np.array_equal(sitk.GetArrayFromImage(mask) > 0, truth), segment["name"]
        color = segmentation.GetSegment(segment["id"]).GetColor()
        assert color == pytest.approx(segment["color"], abs=1e-5)


# ---------------------------------------------------------------- segmentation in one call

@pytest.mark.slow
def test_segment_a_volume_node_with_the_stand_in_model(scene, tmp_path, bright_voxel_model):
    from phantoms import phantom_with_blob

    image, blob = phantom_with_blob()
    path = tmp_path / "phantom.nii.gz"
    sitk.WriteImage(image, str(path))
    volume = slicer_logic.read_volume_file(path, scene)
    progress = []
    logic = RadioWMHSegLogic()
    segmentation = logic.segment(volume, skullStripped=True, device="cpu", model=bright_voxel_model,
                                 probabilityVolume=True, progress=lambda f, m="": progress.append(f))
    mask = slicer_logic.segment_to_sitk(segmentation, volume)
    blob_on_grid = sitk.Resample(blob, mask, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    assert dice(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(blob_on_grid)) > 0.7
    assert logic.statistics(segmentation)["count"] == 1
    assert logic.probabilityVolume(segmentation) is not None
    assert progress and progress[-1] == pytest.approx(1.0)
    assert json.loads(segmentation.GetAttribute("RadioWMHSeg.Model"))["name"] == "bright-voxel-stand-in"
    # The library's quality record (warnings included, even when empty) reaches the node the panel reads.
    assert isinstance(json.loads(segmentation.GetAttribute("RadioWMHSeg.Quality"))["warnings"], list)
    assert logic.qualityWarnings(segmentation) == json.loads(segmentation.GetAttribute("RadioWMHSeg.Quality"))["warnings"]


def test_the_panel_refuses_a_label_map_as_the_command_line_does(scene, tmp_path, monkeypatch):
    from RadioWMHSegLib import segment as segment_module
    from RadioWMHSegLib.errors import InputError

    labels = sitk.Image([80, 80, 60], sitk.sitkUInt8)
    labels.SetSpacing((2.0, 2.0, 2.5))
    labels[20:40, 20:40, 10:30] = 1
    path = tmp_path / "labels.nii.gz"
    sitk.WriteImage(labels, str(path))
    volume = slicer_logic.read_volume_file(path, scene)
    monkeypatch.setattr(segment_module, "segment_image", lambda *a, **k: pytest.fail("work began before the check"))
    with pytest.raises(InputError, match="distinct values"):
        RadioWMHSegLogic().segment(volume, device="cpu")


# ---------------------------------------------------------------- result files

def test_result_files_are_written_headless_and_never_replaced(scene, flair_file, tmp_path):
    from RadioWMHSegLib.errors import InputError

    volume = slicer_logic.read_volume_file(flair_file, scene)
    logic = RadioWMHSegLogic()
    segmentation = logic.loadResult(volume, bright_mask(volume))
    seg_path = slicer_logic.write_node_file(segmentation, tmp_path / "out" / "wmh.seg.nrrd")
    csv_path = slicer_logic.write_node_file(logic.lesionTable(segmentation), tmp_path / "out" / "lesions.csv")
    assert slicerio.segment_names(slicerio.read_segmentation(str(seg_path))) == ["WMH"]
    rows = csv_path.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith('"Lesion","Volume (mL)"') and len(rows) == 1 + logic.statistics(segmentation)["count"]
    before = seg_path.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        slicer_logic.write_node_file(segmentation, seg_path)
    assert seg_path.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lesions.csv", "lesions.schema.csv", "wmh.seg.nrrd"]
