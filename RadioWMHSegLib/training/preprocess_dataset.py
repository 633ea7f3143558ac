"""The 'preprocessed' stage of training: every case of a dataset as crop-grid arrays, cached once.

As in nnU-Net, training never reads the raw images: each case is brought onto the network's grid
once and stored as `<case>.npz` (image float16, label uint8, brain mask uint8) in a cache folder
next to a `record.json` that says where each array came from. A case is redone only when its
source files changed (size or modification time), the preprocessing settings differ, or the
preprocessing code changed (a digest of preprocessing/intensity.py and crop.py, and pipeline.py for 'native').

- MNI-space datasets (synthetic cohorts, already skull-stripped): brain mask of the stripped image,
  then the last step of `preprocess()` (preprocessing/crop.py: onto the crop grid, normalisation),
  label by nearest neighbour. `grid="as_is"` keeps an MNI-space image on its own grid (datasets
  already cut to a sub-box of MNI space, as the tests use).
- 'native' datasets: the full `preprocess()` (bias field, registration, skull strip, normalisation)
  once per scan, and the label mapped onto the crop grid with the same transform. The record keeps
  each scan's key (voxels and grid) and its affine, so a new correction of a scan already cached
  (a re-export from Slicer) reuses the registered image and only maps its new label.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import safe_write
from ..choices import GRIDS
from ..errors import DatasetError
from ..geometry import grid_difference, same_grid

CACHE_FORMAT = 1
RECORD_FILE = "record.json"
MNI_SPACE = "MNI152NLin2009cSym"


@dataclass
class CachedCase:
    name: str
    dataset: str
    path: Path  # the .npz file
    metadata: dict

    def load(self):
        """(image float16, label uint8, brain mask uint8), each (z, y, x)."""
        with np.load(self.path) as data:
            return data["image"], data["label"], data["brain_mask"]


def default_cache_dir(dataset) -> Path:
    return Path(dataset.path) / "preprocessed"


def _file_stamp(path) -> dict:
    stat = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _preprocess_mni_case(case, grid):
    import SimpleITK as sitk

    from .. import templates
    from ..preprocessing.crop import crop_and_normalise
    from ..preprocessing.skull_strip import mask_from_stripped

    image = sitk.ReadImage(str(case.image_path), sitk.sitkFloat32)
    label = sitk.ReadImage(str(case.label_path), sitk.sitkUInt8)
    problem = grid_difference(image, label)
    if problem:
        raise DatasetError(f"case {case.name}: image and label grids differ ({problem}); write the label on the image's grid")
    target = templates.crop_grid() if grid == "crop" else image
    network_input, brain_mask = crop_and_normalise(image, mask_from_stripped(image), grid=target)
    if not same_grid(label, target):
        label = sitk.Resample(label, target, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return network_input, sitk.GetArrayFromImage(label).astype(np.uint8), brain_mask


def _register_native_image(image, skull_stripped, device):
    """The costly half of a native case (registration, skull strip, N4): (network input, brain mask, the
    MNI-to-input affine as JSON), which every label drawn on this image can reuse."""
    from ..preprocessing.pipeline import preprocess

    prepared = preprocess(image, skull_stripped=skull_stripped, in_mni_space=False, device=device)
    transform = prepared.mni_to_native
    affine = {"parameters": list(transform.GetParameters()), "fixed": list(transform.GetFixedParameters())}
    return prepared.network_input, prepared.brain_mask_crop, affine


def _label_on_crop(label, affine) -> np.ndarray:
    """A label on its image's grid mapped onto the crop grid with the image's stored MNI-to-input affine."""
    import SimpleITK as sitk

    from ..preprocessing.pipeline import label_on_crop

    transform = sitk.AffineTransform(3)
    transform.SetFixedParameters(affine["fixed"])
    transform.SetParameters(affine["parameters"])
    return label_on_crop(label, transform).astype(np.uint8)


def _image_key(image, skull_stripped) -> str:
    """Which scan this is: its voxels, its grid and how it is skull-stripped. Two corrections of one FLAIR
    share the key, so the scan is registered once however often it is re-exported."""
    import hashlib

    from ..datasets import voxel_sha256

    geometry = (image.GetOrigin(), image.GetSpacing(), image.GetDirection(), bool(skull_stripped))
    return hashlib.sha256((voxel_sha256(image) + repr(geometry)).encode("ascii")).hexdigest()[:32]


def _preprocess_native_case(case, skull_stripped, device, record, cache_dir):
    """(image, label, brain mask, entry fields) of a native case; the image half is taken from a cached case
    with the same scan when there is one."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(case.image_path), sitk.sitkFloat32)
    # The label may be on any grid in the image's physical space: it is mapped, not copied.
    label = sitk.ReadImage(str(case.label_path), sitk.sitkUInt8)
    key = _image_key(image, skull_stripped)
    for entry in record["cases"].values():
        if entry.get("image_key") == key and "mni_to_native" in entry and (cache_dir / entry["file"]).exists():
            with np.load(cache_dir / entry["file"]) as data:
                network_input, brain_mask = data["image"], data["brain_mask"]
            affine = entry["mni_to_native"]
            return network_input, _label_on_crop(label, affine), brain_mask, {
                "image_key": key, "mni_to_native": affine, "image_from": entry["file"]}
    network_input, brain_mask, affine = _register_native_image(image, skull_stripped, device)
    return network_input, _label_on_crop(label, affine), brain_mask, {"image_key": key, "mni_to_native": affine}


def _code_version(space) -> str:
    """Digest of the preprocessing code: a changed normalisation (or pipeline) makes the cache stale."""
    import hashlib
    import inspect

    from ..preprocessing import crop, intensity

    modules = [intensity, crop]
    if space != MNI_SPACE:
        from ..preprocessing import pipeline

        modules.append(pipeline)
    digest = hashlib.sha256()
    for module in modules:
        digest.update(inspect.getsource(module).encode("utf-8"))
    return digest.hexdigest()[:16]


def _read_record(cache_dir: Path) -> dict:
    import json

    path = cache_dir / RECORD_FILE
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}  # a damaged record only means redoing the cache
    return record if record.get("format") == CACHE_FORMAT else {}


def preprocess_dataset(dataset, cache_dir=None, grid="crop", device="cpu", progress=None) -> list:
    """Bring every case of `dataset` (a datasets.Dataset) into the cache; return [CachedCase].

    Cases already cached from the same files with the same settings are reused as they are.
    """
    if grid not in GRIDS:
        raise DatasetError(f"unknown preprocessing grid '{grid}': choose one of {', '.join(GRIDS)}")
    if dataset.space != MNI_SPACE and dataset.space != "native":
        raise DatasetError(
            f"dataset {dataset.name} has space '{dataset.space}': training knows '{MNI_SPACE}' and 'native'"
        )
    if not dataset.cases:
        raise DatasetError(f"dataset {dataset.name} has no labelled cases: add cases to its dataset.json")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(dataset)
    settings = {"space": dataset.space, "skull_stripped": bool(dataset.skull_stripped),
                "grid": grid if dataset.space == MNI_SPACE else "crop", "code": _code_version(dataset.space)}
    record = _read_record(cache_dir)
    if record.get("settings") != settings:
        record = {"format": CACHE_FORMAT, "dataset": dataset.name, "settings": settings, "cases": {}}
    cached = []
    for index, case in enumerate(dataset.cases):
        if case.label_path is None:
            raise DatasetError(f"case {case.name} of {dataset.name} has no label: training needs labelled cases")
        stamp = {"image": _file_stamp(case.image_path), "label": _file_stamp(case.label_path)}
        # Cases added with 'dataset add' say whether they are skull-stripped; others follow the dataset.
        skull_stripped = bool(case.metadata.get("skull_stripped", dataset.skull_stripped))
        if "skull_stripped" in case.metadata and dataset.space != MNI_SPACE:
            stamp["skull_stripped"] = skull_stripped
        file_name = safe_write.safe_name(case.name) + ".npz"
        entry = record["cases"].get(case.name)
        if not (entry and entry.get("sources") == stamp and (cache_dir / file_name).exists()):
            if progress:
                progress(index / len(dataset.cases), f"preprocessing {dataset.name}/{case.name}")
            started = time.time()
            extra = {}
            if dataset.space == MNI_SPACE:
                image, label, brain_mask = _preprocess_mni_case(case, settings["grid"])
            else:
                image, label, brain_mask, extra = _preprocess_native_case(case, skull_stripped, device, record,
                                                                          cache_dir)

            def write(tmp, image=image, label=label, brain_mask=brain_mask):
                with open(tmp, "wb") as handle:
                    np.savez_compressed(handle, image=image.astype(np.float16), label=label, brain_mask=brain_mask)

            safe_write.atomic_write_bytes_with(cache_dir / file_name, write, overwrite=True, suffix=".npz")
            entry = {
                "file": file_name,
                "sources": stamp,
                "shape": list(image.shape),
                "wmh_voxels": int(np.count_nonzero(label == 1)),
                "other_voxels": int(np.count_nonzero(label == 2)),
                "seconds": round(time.time() - started, 2),
                **extra,
            }
            record["cases"][case.name] = entry
            # Written after every case, so an interrupted run keeps what it has done.
            safe_write.atomic_write_json(cache_dir / RECORD_FILE, record, overwrite=True)
        cached.append(CachedCase(case.name, dataset.name, cache_dir / file_name, dict(case.metadata or {})))
    return cached
