"""Real lesion masks in MNI space (a 'lesion bank') placed into synthetic cases.

The masks may sit on another MNI152 grid (e.g. FSL's 182x218x182): they are resampled by
physical coordinates onto the generator's grid once per process, then a case takes one whole
mask or connected components of several.
"""

import functools
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from ..choices import IMAGE_ENDINGS
from ..errors import InputError
from .anatomy import Anatomy, _grid_key


def bank_files(folder) -> list:
    """The mask files of a lesion bank folder, sorted so that seeds give the same picks everywhere."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"lesion bank folder {folder} does not exist: give a folder of lesion masks in MNI space")
    files = sorted(p for p in folder.iterdir() if p.name.lower().endswith(IMAGE_ENDINGS))
    if not files:
        raise InputError(f"lesion bank folder {folder} holds no .nii.gz/.nii/.nrrd/.mha masks: add lesion masks in MNI space")
    return files


@functools.lru_cache(maxsize=4)
def _bank_on_grid(folder: str, key, grid_holder) -> tuple:
    """Each mask as the (n, 3) indices of its lesion voxels on the grid (small to keep in memory)."""
    grid = grid_holder.image
    masks = []
    for path in bank_files(folder):
        try:
            mask = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise InputError(f"cannot read lesion bank mask {path.name}: {exc}; remove or replace it") from exc
        if mask.GetDimension() != 3:
            raise InputError(f"lesion bank mask {path.name} is not 3D: keep only 3D masks in the bank")
        mask = sitk.Cast(mask > 0, sitk.sitkUInt8)
        on_grid = sitk.Resample(mask, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        masks.append(np.argwhere(sitk.GetArrayViewFromImage(on_grid) > 0).astype(np.int16))
    return tuple(masks)


class _GridHolder:
    """Hashable by geometry so that lru_cache can key on it while keeping the image."""

    def __init__(self, image):
        self.image = image
        self.key = _grid_key(image)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _GridHolder) and self.key == other.key


def bank_lesions(rng, anatomy: Anatomy, folder) -> tuple:
    """Soft WMH map made of real lesion masks: one whole mask, or components from two or three."""
    holder = _GridHolder(anatomy.grid)
    masks = _bank_on_grid(str(Path(folder).resolve()), holder.key, holder)
    shape = anatomy.wm.shape
    names = [p.name for p in bank_files(folder)]
    hard = np.zeros(shape, bool)
    usable = [i for i, m in enumerate(masks) if len(m)]
    if not usable:
        raise InputError(f"every mask in lesion bank {folder} is empty on the MNI grid: check that they are in MNI space")
    if rng.random() < 0.5:
        picked = [usable[rng.integers(len(usable))]]
        for i in picked:
            hard[tuple(masks[i].T)] = True
        mode = "whole mask"
    else:
        picked = sorted(rng.choice(usable, size=min(len(usable), int(rng.integers(2, 4))), replace=False).tolist())
        for i in picked:
            single = np.zeros(shape, bool)
            single[tuple(masks[i].T)] = True
            components, count = ndi.label(single)
            keep = np.flatnonzero(rng.random(count) < 0.5) + 1
            hard |= np.isin(components, keep)
        mode = "components"
    # Lesions may only lie in brain tissue of the synthetic anatomy, never in its ventricles.
    hard &= anatomy.brain.astype(bool) & ~anatomy.ventricles
    soft = ndi.gaussian_filter(hard.astype(np.float32), 0.5)
    soft[hard] = np.maximum(soft[hard], 0.6)
    return soft, {"lesion_bank": str(folder), "bank_masks": [names[i] for i in picked], "bank_mode": mode}
