"""The MNI152 2009c template (from nilearn's wheel, never downloaded) and the network's crop grid.

The network always sees the same fixed 1 mm box of MNI space: `crop_grid()` is that box as an
empty SimpleITK image (origin, spacing, direction, size), so every stage can resample into or out
of it with one call.
"""

import functools
import os

import SimpleITK as sitk

from .errors import ModelError

TEMPLATE_NAME = "MNI152NLin2009cSym"
# Index box of the template grid (x, y, z, in SimpleITK order) that holds the whole brain of the
# 197x233x189 template (brain extent x 26-170, y 27-207, z 0-154) with a margin, and whose sides
# divide by 16 so that four 2x down-samplings of the network stay whole.
CROP_START = (18, 21, 0)
CROP_SIZE = (160, 192, 160)

_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


def _template_dir() -> str:
    try:
        import nilearn
    except ImportError as exc:  # pragma: no cover - nilearn is a hard dependency
        raise ModelError("the MNI152 template comes from the 'nilearn' package: pip install nilearn") from exc
    return os.path.join(os.path.dirname(nilearn.__file__), "datasets", "data")


@functools.lru_cache(maxsize=None)
def _load(kind: str) -> sitk.Image:
    path = os.path.join(_template_dir(), _FILES[kind])
    if not os.path.exists(path):
        raise ModelError(f"MNI152 template file missing from nilearn's wheel: {path}; reinstall nilearn")
    return sitk.ReadImage(path, sitk.sitkFloat32)


def mni_t1() -> sitk.Image:
    """The skull-stripped MNI152 2009c T1 template, float32 in [0, 255]."""
    return sitk.Image(_load("t1"))


def mni_tissue(kind: str) -> sitk.Image:
    """Grey ('gm') or white ('wm') matter probability map, float32 in [0, 1]."""
    image = _load(kind)
    return sitk.Cast(image / 255.0, sitk.sitkFloat32)


@functools.lru_cache(maxsize=None)
def _brain_mask() -> sitk.Image:
    t1 = _load("t1")
    mask = sitk.BinaryThreshold(t1, 1.0, 1e9, 1, 0)
    # Fill ventricles and sulci left as holes by the template's own masking.
    mask = sitk.BinaryFillhole(sitk.BinaryMorphologicalClosing(mask, [3, 3, 3]))
    return sitk.Cast(mask, sitk.sitkUInt8)


def mni_brain_mask() -> sitk.Image:
    """Brain mask of the template (uint8 0/1), on the template grid."""
    return sitk.Image(_brain_mask())


def crop_grid() -> sitk.Image:
    """An empty uint8 image whose geometry is the network's fixed MNI crop box."""
    t1 = _load("t1")
    origin = t1.TransformIndexToPhysicalPoint(CROP_START)
    grid = sitk.Image(CROP_SIZE, sitk.sitkUInt8)
    grid.SetOrigin(origin)
    grid.SetSpacing(t1.GetSpacing())
    grid.SetDirection(t1.GetDirection())
    return grid


def to_crop_grid(image: sitk.Image, interpolator=sitk.sitkLinear, default=0.0) -> sitk.Image:
    """Resample an image that already lies in MNI space onto the crop grid."""
    return sitk.Resample(image, crop_grid(), sitk.Transform(), interpolator, default, image.GetPixelID())


def crop_shape_zyx() -> tuple:
    """Shape of crop-grid arrays as numpy holds them (z, y, x)."""
    return tuple(int(s) for s in reversed(CROP_SIZE))

