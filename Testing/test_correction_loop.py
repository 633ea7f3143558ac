"""The correction loop end to end, headless (slicer-core): segment in the module's logic, correct, export, fine-tune
from the exported dataset, segment a held-out case with the new model.

The annotator is played by the truth: the true lesion mask is written into the WMH segment. The cases are small
skull-stripped phantoms (Testing/phantoms.py) on a coarse oblique grid and the model is a tiny random AttentionVNet,
so this checks the plumbing (what is exported is what fine-tuning reads, versions of one case stay one group,
nothing shared is modified), not a gain in accuracy: benchmarks/correction_loop.py measures that on real data.
"""

import hashlib

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # slicer-core, installed by .[test]: a missing one must fail, not skip

from RadioWMHSegLib import slicer_logic
from RadioWMHSegLib.slicer_logic import RadioWMHSegLogic
from tiny_datasets import TINY_NET

# (template voxel of the lesion centre) per case; A and B are corrected and exported, C is held out.
LESIONS = {"A": (70, 120, 100), "B": (125, 118, 96), "C": (72, 110, 92)}


def _phantom(centre):
    from phantoms import native_grid, phantom_with_blob

    return phantom_with_blob(native_grid(size=(56, 66, 50), spacing=(3.2, 3.2, 3.6)), centre_index=centre)


def _sha256_of_folder(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _correct_with_truth(segmentation, truth):
    """The annotator's correction: the WMH segment becomes the true lesion mask."""
    slicer_logic.set_mask_to_segment(segmentation, truth, slicer_logic.wmh_segment_id(segmentation))


@pytest.mark.slow
def test_segment_correct_export_finetune_and_segment_a_held_out_case(tmp_path):
    import torch

    from RadioWMHSegLib import dataset_check, dataset_split, datasets, model_io
    from RadioWMHSegLib.network import AttentionVNet
    from RadioWMHSegLib.training.finetune import finetune

    scene = slicer.vtkMRMLScene()
    slicer_logic.ensure_segmentation_converters(scene)
    torch.manual_seed(0)
    net = AttentionVNet(**TINY_NET)
    source = model_io.save_model(net, model_io.new_card(net, "tiny-source"), tmp_path / "models", "tiny-source")
    source_files = _sha256_of_folder(source)
    bundled_files = _sha256_of_folder(model_io.bundled_model_dir())
    logic = RadioWMHSegLogic()
    dataset = tmp_path / "corrected"

    volumes, truths, segmentations, exported = {}, {}, {}, []
    for name in ("A", "B", "C"):
        image, truth = _phantom(LESIONS[name])
        path = tmp_path / f"{name}.nii.gz"
        sitk.WriteImage(image, str(path))
        volumes[name] = slicer_logic.read_volume_file(path, scene)
        truths[name] = truth
    for name in ("A", "B"):
        segmentation = logic.segment(volumes[name], skullStripped=True, device="cpu", model=source)
        _correct_with_truth(segmentation, truths[name])
        segmentations[name] = segmentation
        exported.append(logic.exportCase(volumes[name], segmentation, dataset, caseName=f"case {name}",
                                         annotator="truth"))
    # A second look at case A, exported again under the volume's own name: a new entry, never an overwrite.
    exported.append(logic.exportCase(volumes["A"], segmentations["A"], dataset))

    # The exported dataset: three entries, valid, the two versions of A one group, the label the correction.
    assert [c.name for c in exported] == ["case_A", "case_B", "A"]
    assert exported[0].metadata["case_id"] == exported[2].metadata["case_id"] != exported[1].metadata["case_id"]
    assert [c.metadata["version"] for c in exported] == [1, 1, 2]
    # Segmented as skull-stripped, so fine-tuning must not strip the skull again (HD-BET on a stripped brain).
    assert all(c.metadata["skull_stripped"] is True for c in exported)
    report = dataset_check.check_dataset(dataset)
    assert report.ok, report
    loaded = datasets.load_dataset(dataset)
    groups = dataset_split.case_groups(loaded.cases, dataset_split.image_digests(loaded.cases))
    assert sorted(sorted(group) for group in groups) == [["A", "case_A"], ["case_B"]]
    by_name = {c.name: c for c in loaded.cases}
    for name, case_name in (("A", "case_A"), ("B", "case_B"), ("A", "A")):
        label = sitk.ReadImage(str(by_name[case_name].label_path))
        expected = slicer_logic.on_grid_of(truths[name], label)
        assert np.array_equal(sitk.GetArrayFromImage(label) > 0, sitk.GetArrayFromImage(expected) > 0)
        assert sitk.GetArrayFromImage(expected).sum() > 0

    # Fine-tuning reads the exported dataset as it is and makes a new model folder.
    result = finetune(dataset, tmp_path / "run", source_model=source, strategy="all",
                      models_dir=tmp_path / "finetuned", epochs=1, steps_per_epoch=2, batch_size=1,
                      patch_size=(16, 16, 16), val_cases=0, seed=0, show_progress=False, device="cpu",
                      precision="fp32", channels_last=False, cache_root=tmp_path / "cache")
    assert result.completed and result.model_dir is not None
    card = model_io.read_card(result.model_dir)
    assert card["parent"]["weights_sha256"] == model_io.read_card(source)["weights_sha256"]
    trained_on = card["training"]["datasets"]
    # The two exports of A count once (the latest correction): two cases trained on, not three.
    assert [(d["role"], d["path"], d["cases"]) for d in trained_on] == [("target", dataset.name, 2)]
    assert card["weights_sha256"] != card["parent"]["weights_sha256"]
    assert _sha256_of_folder(source) == source_files
    assert _sha256_of_folder(model_io.bundled_model_dir()) == bundled_files

    # The new model segments the held-out case through the same logic.
    held_out = logic.segment(volumes["C"], skullStripped=True, device="cpu", model=result.model_dir)
    mask = slicer_logic.segment_to_sitk(held_out, volumes["C"])
    assert mask.GetSize() == slicer_logic.volume_to_sitk(volumes["C"]).GetSize()
    assert logic.modelInfo(held_out)["weights_sha256"] == card["weights_sha256"]
