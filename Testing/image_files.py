"""Small FLAIR-like test images: arrays with many grey levels, oblique left-handed grids, DICOM series written from them.

Shared by test_image_io, test_reliability, test_bad_inputs, test_dataset_cli and test_dataset_training.
"""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from RadioWMHSegLib.geometry import rotation


def flair_like(shape_zyx=(12, 16, 20), seed=0):
    """Smooth positive intensities with many grey levels, like an MR image."""
    rng = np.random.default_rng(seed)
    return (200 + 100 * rng.random(shape_zyx)).astype(np.float32)


def oblique_image(array_zyx, left_handed=True):
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing((0.9, 1.1, 3.0))
    image.SetOrigin((12.5, -30.0, 7.25))
    direction = rotation(8, -5, 20)
    if left_handed:
        direction = direction @ np.diag([1, 1, -1])
    image.SetDirection(direction.ravel().tolist())
    return image


def write_dicom_series(image, folder):
    """One file per slice, with the tags ITK needs to rebuild the geometry (SimpleITK's documented pattern)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series_uid = "1.2.826.0.1.3680043.2.1125.1.42"
    direction = image.GetDirection()
    orientation = (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7])
    for k in range(image.GetDepth()):
        slice_image = image[:, :, k]
        tags = {
            "0008|0060": "MR",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.4",
            "0008|0018": f"{series_uid}.{k + 1}",
            "0020|000d": f"{series_uid}.0",
            "0020|000e": series_uid,
            "0020|0013": str(k + 1),
            "0020|0037": "\\".join(f"{v:.10f}" for v in orientation),
            "0020|0032": "\\".join(f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
        }
        for tag, value in tags.items():
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice_{k:03d}.dcm"))
        writer.Execute(slice_image)
    return folder


SMALL_SHAPE = (10, 16, 14)  # (z, y, x): small enough for every dataset test to take well under a second


def small_flair(seed, shape=SMALL_SHAPE, spacing=(1.0, 1.0, 1.2), origin=(0.0, 0.0, 0.0)):
    """Random intensities 200-500 on a small grid: a scan the dataset commands accept."""
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray((200.0 + rng.random(shape) * 300.0).astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def small_mask(image, values=(1,)):
    """A 4 x 4 square lesion on slice 3 (and one more slice per further value) on the image's grid."""
    array = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
    for i, value in enumerate(values):
        array[3 + i, 4:8, 4:8] = value
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(image)
    return mask


def write_image(image, path):
    """sitk.WriteImage into a folder made if missing; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path
