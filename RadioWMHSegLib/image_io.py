"""Reading a FLAIR or a label image, with every check that saves the user from a silent failure later.

A FLAIR comes back as a float32 `SimpleITK.Image` whose origin, spacing and direction are exactly those
of the file (oblique and left-handed geometries included), so results can be written back onto the
user's own grid. Anything that cannot be a 3D FLAIR is refused with one `InputError` sentence.
"""

import gzip
import io
import logging
import warnings as python_warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import input_checks
from .errors import InputError
from .safe_write import gunzipped_length

log = logging.getLogger(__name__)

# A real FLAIR has hundreds of grey levels; an integer image with this few is almost surely a mask.
MAX_LABEL_LIKE_VALUES = 10
# Voxel sizes outside this range (mm) are header errors (e.g. metres, or a missing spacing field).
MIN_SPACING_MM = 0.1
MAX_SPACING_MM = 10.0
MAX_LABEL_VALUE = 255


def _describe(path) -> str:
    return f"'{Path(path).name}'"


class _ItkWarningsOff:
    """Silences ITK's own warnings (printed raw on stderr) where this module reports the problem itself."""

    def __enter__(self):
        self.shown = sitk.ProcessObject_GetGlobalWarningDisplay()
        sitk.ProcessObject_SetGlobalWarningDisplay(False)

    def __exit__(self, *exc):
        sitk.ProcessObject_SetGlobalWarningDisplay(self.shown)


def dicom_series_ids(folder) -> tuple:
    """The DICOM series in a folder (empty for a folder without DICOM), without ITK's raw warnings."""
    with _ItkWarningsOff():
        return tuple(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ())


def _read_dicom_folder(folder: Path, warnings: list) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series_ids = dicom_series_ids(folder)
    if not series_ids:
        raise InputError(f"folder {_describe(folder)} holds no DICOM series: point to a DICOM series folder or an image file")
    if len(series_ids) > 1:
        raise InputError(
            f"folder {_describe(folder)} holds {len(series_ids)} DICOM series: copy the FLAIR series alone into its own folder"
        )
    files = reader.GetGDCMSeriesFileNames(str(folder), series_ids[0])
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        with _ItkWarningsOff():  # ITK's "non uniform sampling" warning: reported below in words
            image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"the DICOM series in {_describe(folder)} cannot be read (damaged or incomplete): re-export it") from exc
    positions = []
    for index in range(len(files)):
        if reader.HasMetaDataKey(index, "0020|0032"):
            try:
                positions.append([float(v) for v in reader.GetMetaData(index, "0020|0032").split("\\")])
            except ValueError:
                pass
    if len(positions) == len(files) and image.GetDimension() == 3:
        normal = np.array(image.GetDirection()).reshape(3, 3)[:, 2]
        warnings.extend(input_checks.dicom_slice_warnings(positions, normal, _describe(folder)))
    return image


def _read_any(path, warnings: list) -> sitk.Image:
    """The image at path (file or DICOM folder), or an InputError saying why it cannot be read.

    Doubts about the file that do not stop the reading (lost geometry, missing slices) go to warnings.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: check the path")
    if path.is_dir():
        return _read_dicom_folder(path, warnings)
    if path.stat().st_size == 0:
        raise InputError(f"{_describe(path)} is an empty file: re-export the image")
    sheared = _check_nifti_file(path, warnings)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        if sheared:
            raise InputError(f"{_describe(path)} {sheared}: resample it onto a regular grid first "
                             "(e.g. Resample Scalar Volume in 3D Slicer)") from exc
        raise InputError(
            f"{_describe(path)} cannot be read as an image (damaged, truncated or not NIfTI/NRRD/MHA/DICOM): "
            "check the file or export it again"
        ) from exc


def _check_nifti_file(path: Path, warnings: list) -> str:
    """Refuse what ITK's NIfTI reader lets through silently: a file shorter than its header promises
    (read as zeros) and NaN voxels (read as 0). Warn when the header lost its geometry.

    Returns what is wrong with a sheared affine (which ITK refuses as unreadable), or "".
    """
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return ""  # the NRRD and MetaImage readers already refuse truncated data
    import nibabel

    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"  # the gzip magic: a .nii.gz may hold plain NIfTI
    quiet = logging.getLogger("nibabel.global")
    level = quiet.level
    try:
        # nibabel's own warnings about a damaged or unusual header are reported here in words instead.
        quiet.setLevel(logging.ERROR)
        with python_warnings.catch_warnings():
            python_warnings.simplefilter("ignore")
            # Read by content, whatever the name says (ITK does the same).
            with (gzip.open if compressed else open)(path, "rb") as handle:
                first = handle.read(540)
            nifti2 = 540 in (int.from_bytes(first[:4], "little"), int.from_bytes(first[:4], "big"))
            # The header as written, before nibabel's fixes (it sets a zero voxel size to 1, as ITK does).
            header_class = nibabel.Nifti2Header if nifti2 else nibabel.Nifti1Header
            raw_header = header_class.from_fileobj(io.BytesIO(first), check=False)
            if compressed:
                nifti = nibabel.load(str(path))
            else:
                nifti = (nibabel.Nifti2Image if nifti2 else nibabel.Nifti1Image).from_bytes(path.read_bytes())
        header = nifti.header
        expected = int(header["vox_offset"]) + int(np.prod(header.get_data_shape())) * header.get_data_dtype().itemsize
    except Exception as exc:  # nibabel raises many types for a damaged header
        raise InputError(f"{_describe(path)} is not a readable NIfTI file (damaged header): check the file or export it again") from exc
    finally:
        quiet.setLevel(level)
    if compressed:
        available = gunzipped_length(path)
    else:
        available = path.stat().st_size
    if available < expected:
        found = "its compressed data ends early" if available < 0 else f"{available} of {expected} bytes"
        raise InputError(
            f"{_describe(path)} is truncated ({found}): the copy or export was interrupted, copy it again"
        )
    if header.get_data_dtype().kind == "f" and not np.all(np.isfinite(np.asanyarray(nifti.dataobj))):
        raise InputError(f"{_describe(path)} contains NaN or infinite voxels: fix or re-export the image")
    warnings.extend(input_checks.nifti_geometry_warnings(raw_header, _describe(path)))
    if int(raw_header["sform_code"]) > 0:
        sform = raw_header.get_sform()[:3, :3]
        with np.errstate(invalid="ignore", divide="ignore"):
            columns = sform / np.linalg.norm(sform, axis=0)
        if np.all(np.isfinite(columns)) and np.abs(columns.T @ columns - np.eye(3)).max() > input_checks.DIRECTION_TOLERANCE:
            return input_checks.describe_shear(sform)
    return ""


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
    if channel is not None and image.GetDimension() == 3 and components == 1 and channel != 0:
        raise InputError(f"channel {channel} was asked for, but {name} is a single 3D volume with one value per voxel: "
                         "leave out the channel (--channel)")
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


def _log_unless_collected(found: list, warnings):
    if warnings is None:
        for message in found:
            log.warning(message)
    else:
        warnings.extend(found)


def read_flair(path, channel=None, warnings=None) -> sitk.Image:
    """Read a FLAIR (NIfTI, NRRD, MHA/MHD file or DICOM series folder) as a checked float32 image.

    warnings: a list that receives doubts about the file that do not stop the reading (a NIfTI
    without geometry, a DICOM series with missing slices); without one they are logged.
    """
    name = _describe(path)
    found = []
    image = _read_any(path, found)
    if image.GetDimension() == 2:
        _check_3d(image, name)
    image = _select_channel(image, channel, name)
    _check_3d(image, name)
    _check_spacing(image, name)
    input_checks.check_direction(image, name)
    _log_unless_collected(found, warnings)

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
    found = []
    image = _read_any(path, found)
    if image.GetNumberOfComponentsPerPixel() > 1 or image.GetDimension() == 4:
        raise InputError(f"{name} has several channels or volumes: a label image must be a single 3D volume")
    _check_3d(image, name)
    _check_spacing(image, name)
    input_checks.check_direction(image, name)
    _log_unless_collected(found, None)
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
