"""One random anatomical deformation (affine + smooth elastic), applied to every map at once.

The affine and the elastic displacement are summed on a coarse control grid (an affine map is
exactly linear, so linear upsampling keeps it exact) and upsampled once to a dense map of source
coordinates; every image or label is then sampled once from it, never resampled twice.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .random_fields import coarse_shape, upsample


@dataclass
class Deformation:
    source: np.ndarray   # (3, z, y, x) float32: where each output voxel samples the template (index space)
    parameters: dict     # what was drawn, for the case's metadata


def _rotation(angles_rad) -> np.ndarray:
    a, b, c = angles_rad
    rz = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def random_deformation(rng: np.random.Generator, shape, *, max_rotation_deg=10.0, scale_range=(0.9, 1.1),
                       max_translation_mm=4.0, elastic_mm=3.0, control_spacing_mm=16.0) -> Deformation:
    """Draw an affine (rotation, anisotropic scaling, translation) plus a smooth elastic field.

    Works in voxel index space of a 1 mm isotropic grid, so index units are mm.
    """
    angles = rng.uniform(-max_rotation_deg, max_rotation_deg, 3)
    scales = rng.uniform(scale_range[0], scale_range[1], 3) * rng.uniform(0.97, 1.03)
    translation = rng.uniform(-max_translation_mm, max_translation_mm, 3)
    matrix = _rotation(np.deg2rad(angles)) @ np.diag(1.0 / scales)  # output -> template: inverse scaling
    centre = (np.asarray(shape, float) - 1.0) / 2.0

    controls = coarse_shape(shape, control_spacing_mm)
    axes = [np.linspace(0.0, n - 1.0, c) for n, c in zip(shape, controls)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"))  # (3, cz, cy, cx)
    offsets = points.reshape(3, -1) - centre[:, None]
    source = (matrix @ offsets + centre[:, None] + translation[:, None]).reshape(points.shape)
    elastic = rng.standard_normal(points.shape)
    for axis in range(3):
        elastic[axis] = ndi.gaussian_filter(elastic[axis], 0.7, mode="nearest")
    elastic *= elastic_mm / (np.sqrt((elastic ** 2).sum(axis=0)).mean() + 1e-6)
    source = source + elastic
    dense = np.stack([upsample(source[axis], shape) for axis in range(3)])
    parameters = {
        "rotation_deg": [round(float(v), 3) for v in angles],
        "scale": [round(float(v), 4) for v in scales],
        "translation_mm": [round(float(v), 3) for v in translation],
        "elastic_mm": round(float(elastic_mm), 3),
    }
    return Deformation(source=dense, parameters=parameters)


def warp_linear(array: np.ndarray, deformation: Deformation, outside=0.0) -> np.ndarray:
    """Sample a float map through the deformation with trilinear interpolation."""
    return ndi.map_coordinates(array.astype(np.float32, copy=False), deformation.source, order=1,
                               mode="constant", cval=outside, prefilter=False, output=np.float32)


def nearest_indices(deformation: Deformation, shape) -> tuple:
    """Flat nearest-neighbour source indices (and an 'inside the template grid' mask), computed once
    and shared by every label map, which is much cheaper than one map_coordinates call each."""
    rounded = np.rint(deformation.source).astype(np.int32)
    inside = np.ones(shape, bool)
    for axis, n in enumerate(shape):
        inside &= (rounded[axis] >= 0) & (rounded[axis] < n)
        np.clip(rounded[axis], 0, n - 1, out=rounded[axis])
    flat = np.ravel_multi_index(tuple(rounded), shape)
    return flat, inside


def warp_nearest(array: np.ndarray, indices: tuple) -> np.ndarray:
    flat, inside = indices
    out = array.ravel()[flat]
    out[~inside] = 0
    return out
