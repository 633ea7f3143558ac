"""Reading a FLAIR or a label image, with every check that saves the user from a silent failure later.

A FLAIR comes back as a float32 `SimpleITK.Image` whose origin, spacing and direction are exactly those
of the file (oblique and left-handed geometries included), so results can be written back onto the
user's own grid. Anything that cannot be a 3D FLAIR is refused with one `InputError` sentence.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

IMAGE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
# A real FLAIR has hundreds of grey levels; an integer image with this few is almost surely a mask.
MAX_LABEL_LIKE_VALUES = 10
# Voxel sizes outside this range (mm) are header errors (e.g. metres, or a missing spacing field).
MIN_SPACING_MM = 0.1
MAX_SPACING_MM = 10.0
MAX_LABEL_VALUE = 255


def _describe(path) -> str:
    return f"'{Path(path).name}'"


def _read_dicom_folder(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series_ids = reader.GetGDCMSeriesIDs(str(folder)) or ()
    if not series_ids:
        raise InputError(f"folder {_describe(folder)} holds no DICOM series: point to a DICOM series folder or an image file")
    if len(series_ids) > 1:
        raise InputError(
            f"folder {_describe(folder)} holds {len(series_ids)} DICOM series: copy the FLAIR series alone into its own folder"
        )
    files = reader.GetGDCMSeriesFileNames(str(folder), series_ids[0])
    reader.SetFileNames(files)
    try:
        return reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"the DICOM series in {_describe(folder)} cannot be read (damaged or incomplete): re-export it") from exc


def _read_any(path) -> sitk.Image:
    """The image at path (file or DICOM folder), or an InputError saying why it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path")
    if path.is_dir():
        return _read_dicom_folder(path)
    if path.stat().st_size == 0:
        raise InputError(f"{_describe(path)} is an empty file: re-export the image")
    _check_nifti_file(path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(
            f"{_describe(path)} cannot be read as an image (damaged, truncated or not NIfTI/NRRD/MHA/DICOM): "
            "check the file or export it again"
        ) from exc


def _check_nifti_file(path: Path):
    """Refuse what ITK's NIfTI reader lets through silently: a file shorter than its header promises
    (read as zeros) and NaN voxels (read as 0)."""
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return  # the NRRD and MetaImage readers already refuse truncated data
    import nibabel

    try:
        nifti = nibabel.load(str(path))
        header = nifti.header
        expected = int(header["vox_offset"]) + int(np.prod(header.get_data_shape())) * header.get_data_dtype().itemsize
    except Exception as exc:  # nibabel raises many types for a damaged header
        raise InputError(f"{_describe(path)} is not a readable NIfTI file (damaged header): check the file or export it again") from exc
    if name.endswith(".gz"):
        available = _gunzipped_length(path)
    else:
        available = path.stat().st_size
    if available < expected:
        found = "its compressed data ends early" if available < 0 else f"{available} of {expected} bytes"
        raise InputError(
            f"{_describe(path)} is truncated ({found}): the copy or export was interrupted, copy it again"
        )
    if header.get_data_dtype().kind == "f" and not np.all(np.isfinite(np.asanyarray(nifti.dataobj))):
        raise InputError(f"{_describe(path)} contains NaN or infinite voxels: fix or re-export the image")


def _gunzipped_length(path: Path) -> int:
    """Bytes in a gzip file once decompressed, or -1 when the stream ends early or is corrupt."""
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while True:
                chunk = stream.read(1 << 22)
                if not chunk:
                    return total
                total += len(chunk)
    except (EOFError, OSError, zlib.error):
        return -1


def _check_spacing(image: sitk.Image, name: str):
    spacing = image.GetSpacing()[:3]
    if any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise InputError(f"{name} has a non-positive or invalid voxel size {spacing}: fix the image header")
    if any(s < MIN_SPACING_MM or s > MAX_SPACING_MM for s in spacing):
        shown = ", ".join(f"{s:g}" for s in spacing)
        raise InputError(
            f"{name} has an implausible voxel size ({shown} mm; expected {MIN_SPACING_MM}-{MAX_SPACING_MM} mm): "
            "fix the spacing in the image header"
        )


def _select_channel(image: sitk.Image, channel, name: str) -> sitk.Image:
    """A 3D scalar image out of a 4D or multi-component one, or the image itself when already 3D scalar."""
    components = image.GetNumberOfComponentsPerPixel()
    if image.GetDimension() == 4:
        n_channels = image.GetSize()[3]
        if n_channels == 1 and channel is None:
            channel = 0  # a 4D file with a single volume is a 3D image in disguise
        if channel is None:
            raise InputError(f"{name} is 4D with {n_channels} volumes: choose one with channel (--channel N, 0-based)")
        _check_channel(channel, n_channels, name)
        size = list(image.GetSize())
        size[3] = 0
        image = sitk.Extract(image, size, [0, 0, 0, int(channel)])
        components = image.GetNumberOfComponentsPerPixel()
        channel = None if components == 1 else channel
    if components > 1:
        if channel is None:
            raise InputError(
                f"{name} has {components} values per voxel (colour or multi-channel): choose one with channel (--channel N, 0-based)"
            )
        _check_channel(channel, components, name)
        image = sitk.VectorIndexSelectionCast(image, int(channel))
    return image


def _check_channel(channel, n_channels, name):
    if not isinstance(channel, (int, np.integer)) or not 0 <= channel < n_channels:
        raise InputError(f"channel {channel} does not exist in {name}, which has channels 0 to {n_channels - 1}")


def _check_3d(image: sitk.Image, name: str):
    if image.GetDimension() == 2:
        raise InputError(f"{name} is a 2D image: give the whole 3D volume (a NIfTI/NRRD/MHA file or a DICOM series folder)")
    if image.GetDimension() != 3:
        raise InputError(f"{name} has {image.GetDimension()} dimensions: give a 3D volume")
    if min(image.GetSize()) < 2:
        raise InputError(f"{name} is a single slice ({image.GetSize()}): give the whole 3D volume")


def read_flair(path, channel=None) -> sitk.Image:
    """Read a FLAIR (NIfTI, NRRD, MHA/MHD file or DICOM series folder) as a checked float32 image."""
    name = _describe(path)
    image = _read_any(path)
    if image.GetDimension() == 2:
        _check_3d(image, name)
    image = _select_channel(image, channel, name)
    _check_3d(image, name)
    _check_spacing(image, name)

    values = sitk.GetArrayViewFromImage(image)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{name} contains NaN or infinite voxels: fix or re-export the image")
    low, high = float(values.min()), float(values.max())
    if low == high:
        raise InputError(f"{name} is empty (every voxel is {low:g}): check that the right file was chosen")
    if _looks_like_labels(values):
        distinct = np.unique(values)
        shown = ", ".join(f"{v:g}" for v in distinct)
        raise InputError(
            f"{name} looks like a label mask (only the values {shown}), not a FLAIR: give the FLAIR image instead"
        )
    return sitk.Cast(image, sitk.sitkFloat32)


def _looks_like_labels(values: np.ndarray) -> bool:
    # A FLAIR saved as float may still hold whole numbers, so the test is on the values, not the type.
    sample = values.ravel()[:: max(1, values.size // 2_000_000)]
    if not np.array_equal(sample, np.round(sample)):
        return False
    distinct = np.unique(values)
    return len(distinct) <= MAX_LABEL_LIKE_VALUES


def read_label(path) -> sitk.Image:
    """Read a label image (0 background, 1 WMH, 2 other pathology, ...) as uint8, refusing non-label values."""
    name = _describe(path)
    image = _read_any(path)
    if image.GetNumberOfComponentsPerPixel() > 1 or image.GetDimension() == 4:
        raise InputError(f"{name} has several channels or volumes: a label image must be a single 3D volume")
    _check_3d(image, name)
    _check_spacing(image, name)
    values = sitk.GetArrayViewFromImage(image)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{name} contains NaN or infinite voxels: a label image holds whole numbers 0-{MAX_LABEL_VALUE}")
    if not np.array_equal(values, np.round(values)):
        raise InputError(
            f"{name} holds non-integer values, so it is not a label image: give a mask of whole numbers (0 background, 1 WMH)"
        )
    if values.min() < 0 or values.max() > MAX_LABEL_VALUE:
        raise InputError(
            f"{name} holds labels outside 0-{MAX_LABEL_VALUE} ({values.min():g} to {values.max():g}): relabel it (0 background, 1 WMH)"
        )
    return sitk.Cast(image, sitk.sitkUInt8)
