"""Segmentation metrics as the WMH Segmentation Challenge 2017 defines them (Kuijf et al., IEEE TMI 2019).

The definitions follow the challenge's evaluation script (github.com/hjkuijf/wmhchallenge,
evaluation.py); docs/metrics.md states each one and the cases with empty masks:

- reference voxels labelled 2 ("other pathology") are removed from both masks first;
- DSC, voxel sensitivity and precision;
- HD and HD95 in mm between the lesion boundaries, where a boundary voxel is a mask voxel with
  a background voxel among its 8 in-plane neighbours (the challenge erodes in 2D, within each
  slice); HD95 is the larger of the two directed 95th percentiles;
- AVD: |V_pred - V_ref| / V_ref in %;
- lesions are 26-connected components; a reference lesion is detected when any predicted voxel
  lies in it (lesion recall), a predicted lesion is true when any reference voxel lies in it
  (lesion precision), lesion F1 is their harmonic mean.

Undefined values (HD with an empty mask, AVD with an empty reference) are NaN, never a number
that would pass for a result; summaries leave them out and say how many cases they cover.
"""

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .errors import InputError
from .geometry import same_grid
from .lesion_stats import wmh_voxels

METRIC_KEYS = ("dsc", "sensitivity", "precision", "hd", "hd95", "avd",
               "lesion_recall", "lesion_precision", "lesion_f1",
               "n_ref_lesions", "n_pred_lesions", "ref_volume_ml", "pred_volume_ml")

# 3x3x3: lesions touching by a face, an edge or a corner are one lesion (the challenge's FullyConnected).
FULLY_CONNECTED = np.ones((3, 3, 3), dtype=bool)
# Boundary definitions, (z, y, x) arrays. "in_plane" is the challenge's: erosion by the 3x3 square
# within each slice, the image's outside counting as foreground (ITK's BinaryErode default).
# "3d" erodes by the 6-neighbour cross with the outside as background, as MONAI and most 3D tools.
SURFACES = {
    "in_plane": (np.ones((1, 3, 3), dtype=bool), 1),
    "3d": (ndimage.generate_binary_structure(3, 1), 0),
}
# A spacing given beside images must be theirs (geometry.py holds the tolerance of grid equality).
GEOMETRY_TOLERANCE_MM = 1e-3


def _format_vector(values) -> str:
    return "x".join(f"{v:g}" for v in values)


def _check_same_grid(pred, ref):
    if not same_grid(pred, ref):
        raise InputError(
            f"the prediction (size {_format_vector(pred.GetSize())}, spacing {_format_vector(pred.GetSpacing())} mm, "
            f"origin {_format_vector(np.round(pred.GetOrigin(), 3))}) and the reference (size "
            f"{_format_vector(ref.GetSize())}, spacing {_format_vector(ref.GetSpacing())} mm, origin "
            f"{_format_vector(np.round(ref.GetOrigin(), 3))}) do not lie on the same voxel grid: "
            "resample the prediction onto the reference grid (nearest neighbour) first"
        )


def _arrays_and_geometry(pred, ref, spacing):
    """(pred array, ref array, spacing xyz, origin xyz, direction 3x3) from images or arrays."""
    import SimpleITK as sitk

    images = [x for x in (pred, ref) if isinstance(x, sitk.Image)]
    if len(images) == 2:
        _check_same_grid(pred, ref)
    if images:
        grid = images[-1]  # the reference's geometry when it is an image, as the challenge does
        if spacing is not None and not np.allclose(spacing, grid.GetSpacing(), atol=GEOMETRY_TOLERANCE_MM):
            raise InputError(f"spacing {_format_vector(spacing)} was given but the image has spacing "
                             f"{_format_vector(grid.GetSpacing())} mm: leave spacing out for images")
        spacing = grid.GetSpacing()
        origin = grid.GetOrigin()
        direction = np.reshape(grid.GetDirection(), (3, 3))
    else:
        spacing = (1.0, 1.0, 1.0) if spacing is None else spacing
        origin = (0.0, 0.0, 0.0)
        direction = np.eye(3)
    arrays = [sitk.GetArrayViewFromImage(x) if isinstance(x, sitk.Image) else np.asarray(x) for x in (pred, ref)]
    for name, array in zip(("prediction", "reference"), arrays):
        if array.ndim != 3:
            raise InputError(f"the {name} has {array.ndim} dimensions: give a single 3D mask")
    if arrays[0].shape != arrays[1].shape:
        raise InputError(f"the prediction (array shape {arrays[0].shape}) and the reference (array shape "
                         f"{arrays[1].shape}) differ in size: resample the prediction onto the reference grid first")
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, dtype=float), (3,)))
    if min(spacing) <= 0:
        raise InputError(f"spacing {_format_vector(spacing)} is not positive: give the voxel size in mm (x, y, z)")
    return arrays[0], arrays[1], spacing, np.asarray(origin, dtype=float), direction


def _reference_masks(ref):
    """(WMH, voxels left out of both masks): label 2 (other pathology) and label 3 (unscored)."""
    ref = np.asarray(ref)
    valid = (ref == 0) | (ref == 1) | (ref == 2) | (ref == 3)
    if not valid.all():
        odd = np.unique(ref[~valid])[:5]
        raise InputError(
            f"the reference holds values other than 0, 1, 2 and 3 (e.g. {', '.join(f'{v:g}' for v in odd)}): "
            "give a label mask with 0 background, 1 WMH, 2 other pathology, 3 unscored"
        )
    return ref == 1, (ref == 2) | (ref == 3)


def _crop_box(mask):
    """Slices around the mask's voxels with a margin of one voxel, clipped to the array."""
    if not mask.any():
        return None
    box = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        where = np.flatnonzero(mask.any(axis=others))
        box.append(slice(max(where[0] - 1, 0), min(where[-1] + 2, mask.shape[axis])))
    return tuple(box)


def _boundary_points_mm(mask, offset_zyx, spacing, origin, direction, surface):
    structure, border_value = SURFACES[surface]
    eroded = ndimage.binary_erosion(mask, structure=structure, border_value=border_value)
    index_zyx = np.argwhere(mask & ~eroded) + np.asarray(offset_zyx)
    index_xyz = index_zyx[:, ::-1].astype(float)
    return origin + (index_xyz * np.asarray(spacing)) @ direction.T


def _hausdorff(pred, ref, offset_zyx, spacing, origin, direction, surface):
    """(HD, HD95) in mm; NaN when either mask is empty (no boundary to measure from)."""
    if not pred.any() or not ref.any():
        return float("nan"), float("nan")
    pred_points = _boundary_points_mm(pred, offset_zyx, spacing, origin, direction, surface)
    ref_points = _boundary_points_mm(ref, offset_zyx, spacing, origin, direction, surface)
    pred_to_ref = cKDTree(ref_points).query(pred_points, k=1)[0]
    ref_to_pred = cKDTree(pred_points).query(ref_points, k=1)[0]
    hd = max(pred_to_ref.max(), ref_to_pred.max())
    hd95 = max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95))
    return float(hd), float(hd95)


def _lesion_detection(pred, ref):
    ref_lesions, n_ref = ndimage.label(ref, structure=FULLY_CONNECTED)
    pred_lesions, n_pred = ndimage.label(pred, structure=FULLY_CONNECTED)
    n_detected = len(np.unique(ref_lesions[pred & ref]))
    n_true_pred = len(np.unique(pred_lesions[pred & ref]))
    # The challenge's conventions: nothing to find counts as all found; no detections, as none false.
    recall = n_detected / n_ref if n_ref else 1.0
    precision = n_true_pred / n_pred if n_pred else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return recall, precision, f1, n_ref, n_pred


def lesion_f1(pred, ref) -> float:
    """Lesion-wise F1 of two (z, y, x) masks (non-zero voxels are in), without the distances of compute_metrics:
    cheap enough to score many thresholds (benchmarks/choose_postprocessing.py)."""
    return _lesion_detection(np.asarray(pred) > 0, np.asarray(ref) > 0)[2]


def dice(a, b) -> float:
    """Dice of two masks (arrays or SimpleITK images; non-zero voxels are in); 1.0 when both are empty.

    The plain overlap of two masks, for brain masks, validation and tests; compute_metrics gives the
    challenge's DSC, which also leaves out reference voxels of label 2.
    """
    import SimpleITK as sitk

    a, b = (sitk.GetArrayViewFromImage(x) if isinstance(x, sitk.Image) else np.asarray(x) for x in (a, b))
    a, b = a > 0, b > 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def compute_metrics(pred, ref, spacing=None, *, surface="in_plane") -> dict:
    """WMH challenge metrics of a predicted mask against a reference label mask.

    pred, ref: SimpleITK images on the same grid (geometry taken from them), or (z, y, x) arrays
    with spacing given as (x, y, z) in mm like SimpleITK's GetSpacing (default 1 mm).
    pred: non-zero voxels are WMH (probabilities are read at 0.5), label 2 is not WMH.
    ref: 0 background, 1 WMH, 2 other pathology and 3 unscored (both removed from both masks before measuring).
    surface: "in_plane" (the challenge's boundary) or "3d" (6-connected, as MONAI).
    Returns a dict with METRIC_KEYS; volumes in mL, distances in mm, AVD in %.
    """
    if surface not in SURFACES:
        raise InputError(f"unknown surface '{surface}': choose one of {', '.join(SURFACES)}")
    pred_array, ref_array, spacing, origin, direction = _arrays_and_geometry(pred, ref, spacing)
    ref_wmh, left_out = _reference_masks(ref_array)
    pred_wmh = wmh_voxels(pred_array) & ~left_out

    voxel_ml = float(np.prod(spacing)) / 1000.0
    n_pred, n_ref = int(pred_wmh.sum()), int(ref_wmh.sum())
    box = _crop_box(pred_wmh | ref_wmh)
    if box is None:  # both empty: a perfect answer for a case without WMH
        return {"dsc": 1.0, "sensitivity": 1.0, "precision": 1.0, "hd": 0.0, "hd95": 0.0, "avd": 0.0,
                "lesion_recall": 1.0, "lesion_precision": 1.0, "lesion_f1": 1.0,
                "n_ref_lesions": 0, "n_pred_lesions": 0, "ref_volume_ml": 0.0, "pred_volume_ml": 0.0}
    pred_wmh, ref_wmh = pred_wmh[box], ref_wmh[box]
    offset_zyx = [s.start for s in box]

    overlap = int((pred_wmh & ref_wmh).sum())
    hd, hd95 = _hausdorff(pred_wmh, ref_wmh, offset_zyx, spacing, origin, direction, surface)
    lesion_recall, lesion_precision, lesion_f1, n_ref_lesions, n_pred_lesions = _lesion_detection(pred_wmh, ref_wmh)
    return {
        "dsc": 2.0 * overlap / (n_pred + n_ref),
        "sensitivity": overlap / n_ref if n_ref else 1.0,
        "precision": overlap / n_pred if n_pred else 1.0,
        "hd": hd,
        "hd95": hd95,
        "avd": abs(n_pred - n_ref) / n_ref * 100.0 if n_ref else float("nan"),
        "lesion_recall": lesion_recall,
        "lesion_precision": lesion_precision,
        "lesion_f1": lesion_f1,
        "n_ref_lesions": int(n_ref_lesions),
        "n_pred_lesions": int(n_pred_lesions),
        "ref_volume_ml": n_ref * voxel_ml,
        "pred_volume_ml": n_pred * voxel_ml,
    }
