"""Overlay PNG: orientation (anterior up, patient's right on the left), aspect of thick slices,
slice choice, atomic and non-overwriting writes."""

import numpy as np
import pytest
import SimpleITK as sitk
from matplotlib.image import imread
from scipy import ndimage

from RadioWMHSegLib.errors import InputError
from RadioWMHSegLib.overlay_png import _pick_slices, save_overlay_png


def head_phantom(size_xyz=(40, 40, 12), spacing=(1.0, 1.0, 4.0), direction=None):
    """A bright disc (round in mm) on every slice, and a sitk mask of the same grid (empty)."""
    nx, ny, nz = size_xyz
    y, x = np.mgrid[0:ny, 0:nx]
    radius_mm = 0.35 * min(nx * spacing[0], ny * spacing[1])
    disc = ((x - nx / 2) * spacing[0]) ** 2 + ((y - ny / 2) * spacing[1]) ** 2 <= radius_mm ** 2
    array = np.repeat(disc[None].astype(np.float32) * 100.0, nz, axis=0)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    if direction is not None:
        image.SetDirection(np.asarray(direction, dtype=float).flatten().tolist())
    mask = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(image)
    return image, mask


def largest_region(selected):
    labels, n = ndimage.label(selected)
    assert n > 0
    sizes = ndimage.sum(selected, labels, range(1, n + 1))
    return labels == (1 + int(np.argmax(sizes)))


def red_pixels(png):
    return (png[..., 0] > 0.7) & (png[..., 1] < 0.45) & (png[..., 2] < 0.45)


def grey_pixels(png):
    return (png[..., 0] > 0.3) & (np.abs(png[..., 0] - png[..., 1]) < 0.05) & (np.abs(png[..., 1] - png[..., 2]) < 0.05)


@pytest.mark.parametrize("direction", [None, np.diag([-1.0, -1.0, 1.0])], ids=["LPS", "RAS"])
def test_anterior_is_up_and_patient_left_is_on_the_right(tmp_path, direction):
    image, mask = head_phantom(spacing=(1.0, 1.0, 1.0), direction=direction)
    # A lesion at the patient's front-left: physical point with x > 0 (left) and y < 0 (anterior) in LPS.
    centre = np.array(image.TransformContinuousIndexToPhysicalPoint([20, 20, 6]))
    lesion_index = image.TransformPhysicalPointToIndex(tuple(centre + [8.0, -8.0, 0.0]))
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            mask[lesion_index[0] + dx, lesion_index[1] + dy, lesion_index[2]] = 1

    path = save_overlay_png(image, mask, tmp_path / "o.png", n_slices=1)
    png = imread(str(path))
    head = largest_region(grey_pixels(png) | red_pixels(png))
    lesion = red_pixels(png) & head
    head_row, head_col = np.argwhere(head).mean(axis=0)
    lesion_row, lesion_col = np.argwhere(lesion).mean(axis=0)
    assert lesion_row < head_row  # anterior up
    assert lesion_col > head_col  # patient's left on the picture's right


def test_thick_anisotropic_slices_keep_their_shape(tmp_path):
    # In-plane spacing 0.5 x 1.5 mm: the disc is round in mm, an ellipse of 3:1 in voxels.
    image, _ = head_phantom(size_xyz=(90, 30, 6), spacing=(0.5, 1.5, 5.0))
    png = imread(str(save_overlay_png(image, None, tmp_path / "o.png", n_slices=1)))
    rows, cols = np.nonzero(largest_region(grey_pixels(png)))
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert height == pytest.approx(width, rel=0.1)


def test_slices_spread_over_the_mask_extent():
    extent = np.zeros((50, 4, 4), dtype=bool)
    extent[10:30, 1, 1] = True
    assert _pick_slices(extent, 4) == [12, 17, 22, 27]
    one_slice = np.zeros((50, 4, 4), dtype=bool)
    one_slice[49, 1, 1] = True
    assert _pick_slices(one_slice, 3) == [47, 48, 49]  # widened within the volume
    assert _pick_slices(np.zeros((2, 4, 4), dtype=bool), 5) == [0, 1]


def test_extra_masks_other_grid_and_atomic_write(tmp_path):
    image, mask = head_phantom(direction=np.diag([1.0, -1.0, -1.0]))
    mask[20, 20, 3] = 1
    reference = sitk.Resample(mask, [20, 20, 6], sitk.Transform(), sitk.sitkNearestNeighbor,
                              image.GetOrigin(), [2.0, 2.0, 8.0], image.GetDirection())
    brain = sitk.Cast(image > 50, sitk.sitkUInt8)
    path = save_overlay_png(image, mask, tmp_path / "qc" / "case.png", n_slices=3, title="case 1",
                            extra_masks={"reference": reference, "brain": brain})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["case.png"]  # no temporary left behind
    before = path.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        save_overlay_png(image, mask, path)
    assert path.read_bytes() == before
    save_overlay_png(image, mask, path, n_slices=2, overwrite=True)
    assert path.read_bytes() != before


def test_bad_input():
    with pytest.raises(InputError):
        save_overlay_png(np.zeros((4, 4, 4)), None, "x.png")
    image, mask = head_phantom()
    with pytest.raises(InputError):
        save_overlay_png(image, mask, "x.png", n_slices=0)


def test_real_oblique_thick_slice_flair(shared_data, tmp_path):
    raw = sorted((shared_data / "open_ms" / "raw_flair").glob("*.nii.gz"))[0]
    image = sitk.ReadImage(str(raw))
    array = sitk.GetArrayFromImage(image)
    bright = sitk.GetImageFromArray((array > np.percentile(array, 99.8)).astype(np.uint8))
    bright.CopyInformation(image)
    path = save_overlay_png(image, bright, tmp_path / "raw.png")
    height, width = imread(str(path)).shape[:2]
    assert width > 3 * height  # five axial panels side by side
