"""Is this image something the pipeline can segment, and is there reason to doubt the result?

`image_io` refuses what cannot be read as a 3D FLAIR at all. The checks here are about content:
`check_segmentable` refuses an image from which nothing sensible can come out (too small to register,
no positive intensity, a handful of grey levels) and returns warnings for what makes the result
doubtful (not a head, partial field of view, coarse voxels, few grey levels, negative intensities);
`check_contrast` looks at the brain after segmentation and warns when the contrast is not a FLAIR's.
File-level warnings (a NIfTI without geometry, a DICOM series with missing slices) and the direction
check are here too, for `image_io` to call. Warnings are plain sentences for
`result.record["quality"]["warnings"]`, never exceptions, so a user sees the result and the doubt.
"""

import numpy as np
import SimpleITK as sitk

from .errors import InputError

# Below this extent (mm, along any voxel axis) the 4 mm registration level has fewer than 8 voxels:
# the template cannot be placed, so nothing sensible can come out.
MIN_EXTENT_MM = 30.0
# A whole adult brain spans 120-180 mm along every axis; less than this is a partial field of view.
WHOLE_BRAIN_EXTENT_MM = 100.0
# Voxels coarser than this (largest side, mm; the two finest sides) hide most WMH.
COARSE_SLICE_MM = 8.0
COARSE_IN_PLANE_MM = 3.0
# A FLAIR has hundreds of grey levels; with this few or fewer nothing sensible can come out, and
# fewer than WARN_GREY_LEVELS is suspicious (a quantised or synthetic image).
MIN_GREY_LEVELS = 16
WARN_GREY_LEVELS = 64
# "Dark" is below this fraction of the way from the 0.5th to the 99.5th intensity percentile; a head
# is surrounded by dark air (or by zeros once skull-stripped) on at least one face of the volume.
DARK_FRACTION_OF_RANGE = 0.1
MIN_DARK_FACE_FRACTION = 0.5
# Neighbouring voxels of an anatomical image are correlated; noise has no such structure.
MIN_NEIGHBOUR_CORRELATION = 0.3
# More than this fraction of clearly negative voxels means an intensity offset (a magnitude MR is >= 0).
MAX_NEGATIVE_FRACTION = 0.05
# Brightest quarter of the brain, mean depth / mean depth of the whole brain: about 0.9-1.1 on FLAIR
# (grey matter at the surface is the brightest tissue), about 1.4 on T1 (white matter inside).
MAX_BRIGHT_DEPTH_RATIO = 1.3
# Orthonormality tolerance of a direction matrix (ITK's own readers accept about this much rounding).
DIRECTION_TOLERANCE = 1e-3
# Slice gaps in a DICOM series may differ from the median gap by this fraction (rounding of positions).
SLICE_GAP_TOLERANCE = 0.1

_SAMPLE_SIDE = 64  # content checks run on a strided sample of about this many voxels per side


def _sample(array: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil(max(array.shape) / _SAMPLE_SIDE)))
    return np.asarray(array[::step, ::step, ::step], dtype=np.float64)


def _extent_mm(image: sitk.Image) -> list:
    return [n * s for n, s in zip(image.GetSize(), image.GetSpacing())]


def distinct_values(values: np.ndarray, enough: int = WARN_GREY_LEVELS) -> int:
    """Number of distinct values (exact when below `enough`; a strided sample first, for speed)."""
    flat = values.ravel()
    sample = np.unique(flat[:: max(1, flat.size // 1_000_000)])
    if sample.size >= enough:
        return int(sample.size)
    return int(np.unique(flat).size)


def neighbour_correlation(sample: np.ndarray) -> float:
    """Mean correlation of each voxel with its neighbour, over the axes with enough voxels."""
    values = []
    for axis in range(3):
        if sample.shape[axis] < 4:
            continue
        a = np.moveaxis(sample, axis, 0)
        x, y = a[1:].ravel(), a[:-1].ravel()
        if x.std() > 0 and y.std() > 0:
            values.append(float(np.corrcoef(x, y)[0, 1]))
    return float(np.mean(values)) if values else 1.0


def dark_face_fraction(sample: np.ndarray) -> float:
    """Largest fraction of dark voxels on any of the six faces of the volume."""
    low, high = np.percentile(sample, [0.5, 99.5])
    dark = sample <= low + DARK_FRACTION_OF_RANGE * (high - low)
    faces = [dark[0], dark[-1], dark[:, 0], dark[:, -1], dark[:, :, 0], dark[:, :, -1]]
    return max(float(face.mean()) for face in faces)


def check_segmentable(image: sitk.Image, name: str = "the image") -> list:
    """Refuse (InputError) an image nothing sensible can come from; return warnings about the rest."""
    warnings = []
    extent = _extent_mm(image)
    shown = " x ".join(f"{e:.0f}" for e in extent)
    if min(extent) < MIN_EXTENT_MM:
        raise InputError(
            f"{name} covers only {shown} mm, too little to place a brain template (at least {MIN_EXTENT_MM:.0f} mm "
            "along every axis, a whole head about 150 mm): give the whole FLAIR volume"
        )
    values = sitk.GetArrayViewFromImage(image)
    high = float(values.max())
    if high <= 0:
        raise InputError(
            f"{name} has no positive voxel (values {float(values.min()):g} to {high:g}), which an MR magnitude image "
            "always has: check that the right image was chosen, or remove the intensity offset"
        )
    levels = distinct_values(values)
    if levels <= MIN_GREY_LEVELS:
        raise InputError(
            f"{name} has only {levels} distinct values, too few for an MR image (a FLAIR has hundreds of grey "
            "levels): give the original FLAIR, not a label map or a quantised copy"
        )
    if levels < WARN_GREY_LEVELS:
        warnings.append(f"{name} has only {levels} distinct grey levels (a FLAIR has hundreds): lesion edges and "
                        "small lesions may be lost; use the original, unquantised image")

    if min(extent) < WHOLE_BRAIN_EXTENT_MM:
        warnings.append(f"{name} covers only {shown} mm (a whole brain needs about 120-180 mm along each axis): "
                        "registration and the brain mask may be wrong, and lesions outside the field of view are missed")
    spacing = sorted(image.GetSpacing())
    if spacing[-1] > COARSE_SLICE_MM or spacing[1] > COARSE_IN_PLANE_MM:
        warnings.append(
            f"{name} has coarse voxels ({' x '.join(f'{s:g}' for s in image.GetSpacing())} mm): WMH smaller than a "
            "voxel are missed and volumes are rough; use a finer acquisition if there is one"
        )

    sample = _sample(values)
    negative = float(np.mean(sample < -0.02 * high))
    if negative > MAX_NEGATIVE_FRACTION:
        warnings.append(f"{100 * negative:.0f} % of the voxels of {name} are negative, which an MR magnitude image "
                        "is not: the intensities may carry an offset and the brain mask may be wrong")
    dark = dark_face_fraction(sample)
    correlation = neighbour_correlation(sample)
    if dark < MIN_DARK_FACE_FRACTION or correlation < MIN_NEIGHBOUR_CORRELATION:
        why = ("no dark background on any side" if dark < MIN_DARK_FACE_FRACTION
               else "no spatial structure, like noise")
        warnings.append(f"{name} does not look like a head ({why}): the segmentation is probably meaningless; "
                        "check that the right image was chosen")
    return warnings


def check_contrast(image: sitk.Image, brain_mask: sitk.Image, name: str = "the image") -> list:
    """Warn when the brightest brain tissue lies deep inside the brain (white matter of a T1, CSF of a T2).

    On a FLAIR the brightest tissue (besides lesions) is the cortical grey matter at the brain's
    surface, so the brightest quarter of the brain lies no deeper than the brain on average.
    """
    mask = sitk.Cast(brain_mask > 0, sitk.sitkUInt8)
    inside_voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    if inside_voxels < 1000:
        return []  # no brain to judge (the brain-mask checks speak for themselves)
    depth = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(
        mask, insideIsPositive=True, squaredDistance=False, useImageSpacing=True))
    values = sitk.GetArrayViewFromImage(image)
    inside = depth > 0
    brain_values, brain_depth = values[inside], depth[inside]
    if brain_depth.mean() < 3.0:
        return []
    bright = brain_values >= np.percentile(brain_values, 75)
    ratio = float(brain_depth[bright].mean() / brain_depth.mean())
    if ratio <= MAX_BRIGHT_DEPTH_RATIO:
        return []
    return [f"the contrast of {name} does not look like FLAIR: its brightest brain tissue lies deep inside the brain "
            f"(depth ratio {ratio:.2f}, FLAIR about 1.0), as white matter does on T1 or CSF on T2; the model expects "
            "a FLAIR, so check the sequence"]


def check_direction(image: sitk.Image, name: str):
    """Refuse a direction matrix whose axes are not perpendicular unit vectors (sheared or scaled)."""
    direction = np.array(image.GetDirection()).reshape(image.GetDimension(), image.GetDimension())
    if np.abs(direction.T @ direction - np.eye(direction.shape[0])).max() <= DIRECTION_TOLERANCE:
        return
    raise InputError(f"{name} {describe_shear(direction)}: resample it onto a regular grid first "
                     "(e.g. Resample Scalar Volume in 3D Slicer)")


def describe_shear(matrix: np.ndarray) -> str:
    """What is wrong with a non-orthonormal direction (or voxel-to-world) matrix, in words."""
    columns = matrix / np.linalg.norm(matrix, axis=0)
    cosines = np.clip(np.abs(columns.T @ columns)[np.triu_indices(matrix.shape[0], 1)], 0, 1)
    angle = float(np.degrees(np.arcsin(cosines.max()))) if cosines.size else 0.0
    if angle > 0.05:
        return (f"has a sheared grid (its voxel axes are {90 - angle:.1f} degrees apart, not 90, as after a gantry "
                "tilt), which no output mask can share")
    return "has a direction matrix whose axes are not unit vectors (a damaged header), which no output mask can share"


def nifti_geometry_warnings(header, name: str) -> list:
    """Warnings for a NIfTI header that lost its geometry (no qform/sform, zero voxel sizes)."""
    warnings = []
    pixdim = [float(p) for p in header["pixdim"][1:4]]
    if any(not np.isfinite(p) or p <= 0 for p in pixdim):
        warnings.append(f"{name} has no voxel size in its NIfTI header (pixdim {pixdim}), so 1 mm is assumed: "
                        "volumes in mL are wrong unless the voxels really are 1 mm; fix the header or re-export it")
    if int(header["qform_code"]) == 0 and int(header["sform_code"]) == 0:
        warnings.append(f"{name} has no orientation in its NIfTI header (qform and sform codes are 0): the "
                        "orientation is guessed, so left and right may be swapped; re-export it with its geometry")
    return warnings


def dicom_slice_warnings(positions, normal, name: str) -> list:
    """Warning when the slice positions of a DICOM series are not evenly spaced (missing or damaged slices)."""
    if len(positions) < 3:
        return []
    along = np.asarray(positions, dtype=float) @ np.asarray(normal, dtype=float)
    gaps = np.abs(np.diff(along))
    typical = float(np.median(gaps))
    if typical <= 0 or np.max(np.abs(gaps - typical)) <= SLICE_GAP_TOLERANCE * typical:
        return []
    worst = float(gaps[np.argmax(np.abs(gaps - typical))])
    return [f"the slices of the DICOM series {name} are unevenly spaced ({worst:.2f} mm between two of them, "
            f"{typical:.2f} mm elsewhere): a slice is probably missing or damaged and the volume is distorted there; "
            "re-export the complete series"]
