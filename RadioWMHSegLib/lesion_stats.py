"""WMH volume, lesion count and a per-lesion table of a mask.

A lesion is a 26-connected component (voxels touching by a face, an edge or a corner), as in the
WMH Segmentation Challenge 2017. Volumes use the physical voxel size, so they are right for
anisotropic and oblique grids alike.
"""

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .datasets import LABELS
from .errors import InputError

OTHER_PATHOLOGY_LABEL = LABELS["other_pathology"]
UNSCORED_LABEL = LABELS["unscored"]


def wmh_voxels(array) -> np.ndarray:
    """Boolean array of the voxels that count as WMH in a mask or label array.

    Non-zero voxels are WMH (a probability map is read at 0.5), except the label 2 ("other
    pathology": tumour, oedema, cavity), which the project never counts as WMH, and the label 3
    ("unscored": a region a training label leaves open, datasets.LABELS).
    """
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    return (array >= 0.5) & (array != OTHER_PATHOLOGY_LABEL) & (array != UNSCORED_LABEL)


def voxel_volume_mm3(image: sitk.Image) -> float:
    return float(np.prod(image.GetSpacing()))


def mask_volume_ml(mask: sitk.Image, value=None) -> float:
    """Volume in mL of a mask's non-zero voxels, or of the voxels equal to `value` in a label map."""
    array = sitk.GetArrayViewFromImage(mask)
    voxels = np.count_nonzero(array if value is None else array == value)
    return float(voxels) * voxel_volume_mm3(mask) / 1000.0


@dataclass
class Lesion:
    index: int                  # 1 = the largest lesion
    n_voxels: int
    volume_ml: float
    centre_mm: tuple            # physical centroid (x, y, z), LPS as SimpleITK gives it
    centre_voxel: tuple         # voxel index (i, j, k) nearest the centroid

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "n_voxels": self.n_voxels,
            "volume_ml": self.volume_ml,
            "centre_mm": list(self.centre_mm),
            "centre_voxel": list(self.centre_voxel),
        }


@dataclass
class LesionStats:
    total_volume_ml: float
    count: int
    lesions: list = field(default_factory=list)
    min_lesion_mm3: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready summary and per-lesion list."""
        return {
            "total_volume_ml": self.total_volume_ml,
            "count": self.count,
            "min_lesion_mm3": self.min_lesion_mm3,
            "lesions": [lesion.to_dict() for lesion in self.lesions],
        }

    def to_rows(self) -> list:
        """One flat dict per lesion, for a CSV file or a table widget."""
        rows = []
        for lesion in self.lesions:
            x, y, z = lesion.centre_mm
            i, j, k = lesion.centre_voxel
            rows.append({
                "index": lesion.index,
                "n_voxels": lesion.n_voxels,
                "volume_ml": lesion.volume_ml,
                "centre_x_mm": x, "centre_y_mm": y, "centre_z_mm": z,
                "centre_i": i, "centre_j": j, "centre_k": k,
            })
        return rows


def _check_mask(mask):
    if not isinstance(mask, sitk.Image):
        raise InputError("a lesion mask must be a SimpleITK image (it carries the voxel size): read it with image_io.read_label")
    if mask.GetDimension() != 3 or mask.GetNumberOfComponentsPerPixel() != 1:
        raise InputError("a lesion mask must be a single 3D volume: give one label image, not a 2D, 4D or multi-channel one")


def _check_min_size(min_lesion_mm3):
    if not np.isfinite(min_lesion_mm3) or min_lesion_mm3 < 0:
        raise InputError(f"the minimum lesion size must be 0 mm3 or more, not {min_lesion_mm3}: give a size such as 3")


def _binary_image(mask: sitk.Image) -> sitk.Image:
    binary = sitk.GetImageFromArray(wmh_voxels(sitk.GetArrayViewFromImage(mask)).astype(np.uint8))
    binary.CopyInformation(mask)
    return binary


def remove_small_lesions(mask: sitk.Image, min_lesion_mm3: float) -> sitk.Image:
    """uint8 mask (0/1) on the same grid without the lesions smaller than min_lesion_mm3."""
    _check_mask(mask)
    _check_min_size(min_lesion_mm3)
    binary = _binary_image(mask)
    if min_lesion_mm3 == 0:
        return binary
    components = sitk.GetArrayFromImage(sitk.ConnectedComponent(binary, True))
    sizes_mm3 = np.bincount(components.ravel()) * voxel_volume_mm3(mask)
    keep = sizes_mm3 >= min_lesion_mm3
    keep[0] = False
    kept = sitk.GetImageFromArray(keep[components].astype(np.uint8))
    kept.CopyInformation(mask)
    return kept


def compute_lesion_stats(mask: sitk.Image, min_lesion_mm3: float = 0.0) -> LesionStats:
    """Total WMH volume (mL), lesion count and per-lesion table, largest lesion first.

    Lesions smaller than min_lesion_mm3 are left out of the table, the count and the total.
    """
    _check_mask(mask)
    _check_min_size(min_lesion_mm3)
    voxel_mm3 = voxel_volume_mm3(mask)
    components = sitk.ConnectedComponent(_binary_image(mask), True)
    shapes = sitk.LabelShapeStatisticsImageFilter()
    shapes.Execute(components)

    found = []
    for label in shapes.GetLabels():  # in raster order, so ties in size keep a stable order
        n_voxels = int(shapes.GetNumberOfPixels(label))
        if n_voxels * voxel_mm3 < min_lesion_mm3:
            continue
        centre_mm = tuple(float(c) for c in shapes.GetCentroid(label))
        centre_voxel = tuple(int(i) for i in mask.TransformPhysicalPointToIndex(centre_mm))
        found.append((n_voxels, centre_mm, centre_voxel))
    found.sort(key=lambda item: -item[0])

    lesions = [
        Lesion(index=number, n_voxels=n_voxels, volume_ml=n_voxels * voxel_mm3 / 1000.0,
               centre_mm=centre_mm, centre_voxel=centre_voxel)
        for number, (n_voxels, centre_mm, centre_voxel) in enumerate(found, start=1)
    ]
    total_voxels = sum(lesion.n_voxels for lesion in lesions)
    return LesionStats(total_volume_ml=total_voxels * voxel_mm3 / 1000.0, count=len(lesions),
                       lesions=lesions, min_lesion_mm3=float(min_lesion_mm3))
