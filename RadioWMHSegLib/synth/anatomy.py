"""Template anatomy for the generator: tissue maps, ventricles and distance maps on a 1 mm grid.

Everything here is derived once per grid from the MNI152 2009c template (GM, WM, brain mask) and
cached, so that drawing a case only costs the random parts. Arrays are (z, y, x), distances in mm
(the grids used are 1 mm isotropic, so voxel and mm coordinates coincide).
"""

import functools
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from .. import templates

# CSF this deep inside the brain (mm) is ventricle or cistern, not sulcus.
_VENTRICLE_DEPTH_MM = 10.0
# Deep CSF components smaller than this (voxels) are ignored when looking for the ventricles.
_VENTRICLE_MIN_VOXELS = 2000


@dataclass(frozen=True)
class Anatomy:
    grid: sitk.Image                 # geometry of every array below
    gm: np.ndarray                   # float32 probabilities
    wm: np.ndarray
    csf: np.ndarray                  # brain mask minus GM minus WM, clipped to [0, 1]
    brain: np.ndarray                # uint8 0/1
    ventricles: np.ndarray           # bool, lateral ventricles
    ventricle_distance: np.ndarray   # float32 mm to the nearest ventricle voxel
    cortex_distance: np.ndarray      # float32 mm to the nearest grey-matter voxel (GM > 0.5)
    horn_tips: dict                  # 'frontal_left' ... -> (z, y, x) index of each horn's tip
    periventricular_points: np.ndarray  # (n, 3) candidate lesion centres in index space
    juxtacortical_points: np.ndarray
    deep_wm_points: np.ndarray


def _grid_key(grid: sitk.Image):
    return (tuple(grid.GetSize()), tuple(np.round(grid.GetOrigin(), 4)),
            tuple(np.round(grid.GetSpacing(), 4)), tuple(np.round(grid.GetDirection(), 4)))


def _on_grid(image: sitk.Image, grid: sitk.Image, interpolator) -> np.ndarray:
    resampled = sitk.Resample(image, grid, sitk.Transform(), interpolator, 0.0, image.GetPixelID())
    return sitk.GetArrayFromImage(resampled)


def _lateral_ventricles(csf: np.ndarray, wm: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The deep CSF component most surrounded by white matter: the lateral ventricles.

    The other large deep CSF components (interhemispheric fissure, basal cisterns) are lined by
    grey matter instead, which is what tells them apart without any hard-coded coordinates.
    """
    deep_csf = (csf > 0.5) & (depth > _VENTRICLE_DEPTH_MM)
    components, count = ndi.label(deep_csf)
    best, best_score = 0, -1.0
    for label in range(1, count + 1):
        component = components == label
        if component.sum() < _VENTRICLE_MIN_VOXELS:
            continue
        shell = ndi.binary_dilation(component, iterations=2) & ~component
        score = float(wm[shell].mean())
        if score > best_score:
            best, best_score = label, score
    if best == 0:
        raise RuntimeError("no ventricles found in the template: the MNI152 files are not the expected ones")
    return components == best


def _horn_tips(ventricles: np.ndarray, grid: sitk.Image) -> dict:
    """Mean position of the 3% most anterior / posterior ventricle voxels on each side."""
    index = np.argwhere(ventricles)  # (n, 3) z, y, x
    points = np.array([grid.TransformIndexToPhysicalPoint([int(i[2]), int(i[1]), int(i[0])]) for i in index[::7]])
    index = index[::7]
    tips = {}
    for side, on_side in (("left", points[:, 0] > 0), ("right", points[:, 0] <= 0)):
        side_index, side_y = index[on_side], points[on_side, 1]  # LPS y grows towards posterior
        n = max(1, int(0.03 * len(side_y)))
        order = np.argsort(side_y)
        tips[f"frontal_{side}"] = side_index[order[:n]].mean(axis=0)
        tips[f"occipital_{side}"] = side_index[order[-n:]].mean(axis=0)
    return tips


@functools.lru_cache(maxsize=4)
def _anatomy_for(key) -> Anatomy:
    grid = _grids[key]
    gm = _on_grid(templates.mni_tissue("gm"), grid, sitk.sitkLinear).astype(np.float32)
    wm = _on_grid(templates.mni_tissue("wm"), grid, sitk.sitkLinear).astype(np.float32)
    brain = _on_grid(templates.mni_brain_mask(), grid, sitk.sitkNearestNeighbor).astype(np.uint8)
    gm *= brain
    wm *= brain
    csf = np.clip(brain - gm - wm, 0.0, 1.0).astype(np.float32)
    depth = ndi.distance_transform_edt(brain)
    ventricles = _lateral_ventricles(csf, wm, depth)
    ventricle_distance = ndi.distance_transform_edt(~ventricles).astype(np.float32)
    cortex_distance = ndi.distance_transform_edt(gm <= 0.5).astype(np.float32)
    white = wm > 0.5
    periventricular = white & (ventricle_distance >= 1) & (ventricle_distance <= 5)
    juxtacortical = white & (cortex_distance >= 1) & (cortex_distance <= 3) & (ventricle_distance > 8)
    deep = (wm > 0.7) & (ventricle_distance > 5) & (cortex_distance > 4)
    return Anatomy(
        grid=grid, gm=gm, wm=wm, csf=csf, brain=brain, ventricles=ventricles,
        ventricle_distance=ventricle_distance, cortex_distance=cortex_distance,
        horn_tips=_horn_tips(ventricles, grid),
        periventricular_points=np.argwhere(periventricular),
        juxtacortical_points=np.argwhere(juxtacortical),
        deep_wm_points=np.argwhere(deep),
    )


_grids = {}


def template_anatomy(grid: sitk.Image = None) -> Anatomy:
    """The template anatomy on `grid` (default: the network's crop grid), computed once per grid."""
    grid = templates.crop_grid() if grid is None else grid
    key = _grid_key(grid)
    _grids.setdefault(key, sitk.Image(grid))
    return _anatomy_for(key)


def padded_crop_grid(margin_mm=(20, 20, 20), below_mm=30) -> sitk.Image:
    """The crop grid grown by a margin (x, y, z in mm; extra below), room for the head (synth/head.py)."""
    crop = templates.crop_grid()
    start = [-int(m) for m in margin_mm]
    start[2] = -int(below_mm)
    origin = crop.TransformIndexToPhysicalPoint(start)
    size = [int(s + m * 2) for s, m in zip(crop.GetSize(), margin_mm)]
    size[2] = int(crop.GetSize()[2] + margin_mm[2] + below_mm)
    grid = sitk.Image(size, sitk.sitkUInt8)
    grid.SetOrigin(origin)
    grid.SetSpacing(crop.GetSpacing())
    grid.SetDirection(crop.GetDirection())
    return grid
