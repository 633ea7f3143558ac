"""Tiny MNI-space training datasets (a few 32x40x36 cases) and the trainer options that train on them in seconds.

Shared by test_training, test_transfer, test_experiment, test_dataset_cli and test_dataset_training (imported by
conftest.py for its fixtures).
"""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

TINY_NET = {"channels": (4, 8, 16), "convs": (1, 1, 1)}
TINY_SHAPE = (32, 40, 36)  # (z, y, x)


def tiny_case(seed, shape=TINY_SHAPE, n_lesions=3, with_other=False, origin=(-40.0, -50.0, -30.0)):
    """A skull-stripped FLAIR-like box in MNI space: an ellipsoid 'brain', bright spheres as WMH (label 1)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    centre = np.array(shape) / 2.0
    brain = (((z - centre[0]) / (shape[0] * 0.45)) ** 2 + ((y - centre[1]) / (shape[1] * 0.45)) ** 2
             + ((x - centre[2]) / (shape[2] * 0.45)) ** 2) <= 1.0
    image = np.where(brain, 300.0 + rng.normal(0, 10.0, shape), 0.0)
    label = np.zeros(shape, np.uint8)
    for _ in range(n_lesions):
        c = [rng.integers(s // 3, 2 * s // 3) for s in shape]
        blob = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= rng.integers(2, 4) ** 2
        label[blob & brain] = 1
    if with_other:
        c = [s // 2 for s in shape]
        other = (z - c[0]) ** 2 + (y - c[1] - 8) ** 2 + (x - c[2]) ** 2 <= 9
        label[other & brain & (label == 0)] = 2
    image[label == 1] = 700.0
    image[label == 2] = 500.0
    images = []
    for array, kind in ((image.astype(np.float32), sitk.sitkFloat32), (label, sitk.sitkUInt8)):
        item = sitk.Cast(sitk.GetImageFromArray(array), kind)
        item.SetOrigin(origin)
        images.append(item)
    return images


def make_tiny_dataset(path, n_cases, seed=0, name=None, phenotype="tiny", with_other=False):
    """A dataset folder of tiny MNI-space cases (train with grid='as_is')."""
    from RadioWMHSegLib.datasets import add_case, create_dataset

    create_dataset(path, name=name or Path(path).name, space="MNI152NLin2009cSym", skull_stripped=True)
    for i in range(n_cases):
        image, label = tiny_case(seed * 1000 + i, with_other=with_other)
        add_case(path, f"case_{i:03d}", image, label, metadata={"phenotype": phenotype})
    return Path(path)


def tiny_dataset_with_split(path):
    """Four tiny cases, a second version of case_001 (as a re-exported correction), split in two folds by
    `radiowmhseg dataset split`. Returns the folder and its splits.json."""
    import json

    from RadioWMHSegLib.cli import main
    from RadioWMHSegLib.datasets import add_case

    ds = make_tiny_dataset(path, 4, seed=5)
    image = sitk.ReadImage(str(ds / "imagesTr" / "case_001_0000.nii.gz"))
    label = sitk.ReadImage(str(ds / "labelsTr" / "case_001.nii.gz"))
    add_case(ds, "case_001", image, label)  # a second version of case_001
    assert main(["dataset", "split", str(ds), "--folds", "2"]) == 0
    return ds, json.loads((ds / "splits.json").read_text(encoding="utf-8"))

def tiny_options(**overrides):
    # fp32 in plain layout: bf16 + channels_last, fastest for the full-size net, is slow for 4-channel layers.
    options = dict(epochs=2, steps_per_epoch=2, batch_size=2, patch_size=(16, 16, 16), val_cases=1, seed=3,
                   grid="as_is", show_progress=False, device="cpu", precision="fp32", channels_last=False,
                   **TINY_NET)
    options.update(overrides)
    return options


def tiny_model_folder(folder, name="tiny-source", seed=1):
    """A saved 2-class model of the tiny test network (random weights): a source model for fine-tuning
    tests, and what a model trained without label 2 is."""
    import torch

    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.network import AttentionVNet

    torch.manual_seed(seed)
    net = AttentionVNet(**TINY_NET)
    return model_io.save_model(net, model_io.new_card(net, name, training={"note": "random weights for tests"}),
                               folder, name)
