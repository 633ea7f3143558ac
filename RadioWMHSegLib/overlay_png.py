"""A PNG of axial slices with a mask overlaid, for reports and a quick look without a viewer.

Slices are taken in the image's own voxel grid (no resampling): the axes are only permuted and
flipped (DICOM orientation of the direction matrix) so that anterior is up and the patient's
right is on the left of the picture (radiological convention, as 3D Slicer shows it). Pixel
aspect follows the voxel spacing, so thick-slice and anisotropic images keep their shape.
"""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import safe_write
from .errors import InputError
from .geometry import same_grid
from .lesion_stats import wmh_voxels

MASK_COLOUR = "#ff3030"
EXTRA_COLOURS = ("#30c0ff", "#ffd030", "#60ff60", "#ff60ff")
MASK_ALPHA = 0.45
WINDOW_PERCENTILES = (0.5, 99.5)
PANEL_INCHES = 3.2
DPI = 110
HEAD_AREA_FRACTION = 0.2


def _display_oriented(image: sitk.Image) -> sitk.Image:
    # LPS order: index x grows to the patient's left, y to posterior, z to superior; so the rows
    # of an axial slice run anterior -> posterior and its columns right -> left.
    return sitk.DICOMOrient(image, "LPS")


def _on_image_grid(mask: sitk.Image, image: sitk.Image, name: str) -> sitk.Image:
    if mask.GetDimension() != 3:
        raise InputError(f"the {name} mask is not a 3D image: give a mask of the same scan")
    if same_grid(mask, image):
        return mask
    # A mask on another grid (e.g. a reference at another resolution) is shown where it lies.
    return sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())


def _foreground(array: np.ndarray) -> np.ndarray:
    """Rough head/brain voxels: above a tenth of the way from the low to the high percentile."""
    low, high = np.percentile(array, [1, 99])
    return array > low + 0.1 * (high - low)


def _pick_slices(extent_mask: np.ndarray, n_slices: int, min_area_fraction=0.0) -> list:
    """n_slices axial indices at the centres of n equal parts of the slices the extent mask covers.

    Slices whose area is below min_area_fraction of the largest one's are left out of the extent
    (for the head, so that the skull's tip or a stray voxel does not spread the picks).
    """
    n_total = extent_mask.shape[0]
    area = extent_mask.reshape(n_total, -1).sum(axis=1)
    covered = np.flatnonzero(area >= max(min_area_fraction * area.max(), 1)) if area.any() else np.arange(n_total)
    first, last = covered[0], covered[-1]
    n_slices = min(n_slices, n_total)
    if last - first + 1 < n_slices:  # too few slices: widen around the middle, within the volume
        first = int(np.clip((first + last) // 2 - n_slices // 2, 0, n_total - n_slices))
        last = first + n_slices - 1
    step = (last - first + 1) / n_slices
    return sorted({int(first + (i + 0.5) * step) for i in range(n_slices)})


def _window(array: np.ndarray, foreground: np.ndarray):
    # Percentiles within the head, so that the dark background and a few very bright voxels (fat,
    # vessels, artefacts) do not flatten the contrast of the brain.
    values = array[foreground] if foreground.any() else array.ravel()
    low, high = (float(v) for v in np.percentile(values, WINDOW_PERCENTILES))
    if high <= low:  # a flat head (a phantom): show the whole range instead
        low, high = float(array.min()), float(array.max())
    return low, (high if high > low else low + 1.0)


def _draw(figure, image_array, spacing, slices, layers, window, title):
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    aspect = spacing[1] / spacing[0]  # row height / column width, in mm
    axes = figure.subplots(1, len(slices), squeeze=False)[0]
    for ax, k in zip(axes, slices):
        ax.imshow(image_array[k], cmap="gray", vmin=window[0], vmax=window[1], aspect=aspect,
                  interpolation="nearest")
        for layer in layers:
            section = layer["array"][k]
            if not section.any():
                continue
            if layer["fill"]:
                ax.imshow(np.ma.masked_where(~section, section), cmap=ListedColormap([layer["colour"]]),
                          alpha=MASK_ALPHA, aspect=aspect, interpolation="nearest", vmin=0, vmax=1)
            ax.contour(section.astype(np.uint8), levels=[0.5], colors=[layer["colour"]], linewidths=0.9)
        ax.set_title(f"slice {k + 1}/{image_array.shape[0]}", color="white", fontsize=9)
        ax.set_axis_off()
    if layers:
        handles = [Patch(facecolor=layer["colour"], edgecolor=layer["colour"], label=layer["name"]) for layer in layers]
        figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
                      labelcolor="white", fontsize=9)
    if title:
        figure.suptitle(title, color="white", fontsize=11)


def save_overlay_png(image: sitk.Image, mask, path, n_slices=5, title=None, extra_masks=None,
                     mask_name="WMH", overwrite=False) -> Path:
    """Write a PNG of n_slices axial slices of image with mask filled in red and outlined.

    mask: a sitk mask or None. Slices spread over its extent, or over the head when it is empty or None.
    extra_masks: {name: sitk mask} drawn as outlines in other colours (a reference, a brain mask),
    named in the legend. Masks on another grid are resampled (nearest neighbour) onto the image's.
    The file is written atomically and never replaces an existing one unless overwrite.
    """
    from matplotlib.figure import Figure

    if not isinstance(image, sitk.Image) or image.GetDimension() != 3:
        raise InputError("the overlay needs a 3D SimpleITK image: read the scan with image_io.read_flair")
    if n_slices < 1:
        raise InputError(f"n_slices must be at least 1, not {n_slices}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        image = sitk.VectorIndexSelectionCast(image, 0)
    oriented = _display_oriented(sitk.Cast(image, sitk.sitkFloat32))
    image_array = sitk.GetArrayFromImage(oriented)
    if not np.all(np.isfinite(image_array)):
        image_array = np.nan_to_num(image_array, nan=0.0, posinf=0.0, neginf=0.0)

    named = ([(mask_name, mask, MASK_COLOUR, True)] if mask is not None else []) + [
        (name, extra, EXTRA_COLOURS[i % len(EXTRA_COLOURS)], False)
        for i, (name, extra) in enumerate((extra_masks or {}).items()) if extra is not None
    ]
    layers = []
    for name, layer_mask, colour, fill in named:
        on_grid = _display_oriented(_on_image_grid(layer_mask, image, name))
        layers.append({"name": name, "array": wmh_voxels(sitk.GetArrayViewFromImage(on_grid)),
                       "colour": colour, "fill": fill})

    foreground = _foreground(image_array)
    main = layers[0]["array"] if mask is not None else None
    if main is not None and main.any():
        slices = _pick_slices(main, n_slices)
    else:
        slices = _pick_slices(foreground, n_slices, min_area_fraction=HEAD_AREA_FRACTION)
    spacing = oriented.GetSpacing()

    # Figure size keeps the slice shape in mm; Figure (not pyplot) leaves any GUI backend alone.
    height_mm = image_array.shape[1] * spacing[1]
    width_mm = image_array.shape[2] * spacing[0]
    panel_height = PANEL_INCHES * min(height_mm / width_mm, 2.0)
    figure = Figure(figsize=(PANEL_INCHES * len(slices), panel_height + 0.9), facecolor="black")
    _draw(figure, image_array, spacing, slices, layers, _window(image_array, foreground), title)
    figure.subplots_adjust(left=0.01, right=0.99, top=1 - 0.45 / (panel_height + 0.9),
                           bottom=0.4 / (panel_height + 0.9), wspace=0.03)
    return safe_write.atomic_write_bytes_with(
        path, lambda tmp: figure.savefig(tmp, format="png", dpi=DPI, facecolor="black"),
        overwrite=overwrite, suffix=".png")
