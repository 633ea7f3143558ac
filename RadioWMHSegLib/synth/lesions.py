"""Lesion phenotypes drawn in template space: soft (0..1) maps that the deformation then carries.

'radiation': radiation-induced leukoencephalopathy (periventricular caps and bands growing
confluent into deep white matter with severity), 'ms': many small ovoid lesions (periventricular,
juxtacortical, deep), 'glioma': treated glioma (resection cavity, tumour rim and oedema = label 2)
with radiation WMH elsewhere. Real MS masks from a lesion bank live in lesion_bank.py.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from ..choices import PHENOTYPES  # noqa: F401  (generator.py reads it here; users choose from choices.py)
from .anatomy import Anatomy
from .random_fields import smooth_noise


@dataclass
class LesionMaps:
    wmh: np.ndarray                      # float32 soft WMH (label 1)
    other: np.ndarray                    # float32 soft tumour / oedema (label 2)
    cavity: np.ndarray                   # float32 soft resection cavity (label 2, CSF-like intensity)
    rim: np.ndarray                      # float32 soft tumour rim (label 2, its own intensity)
    info: dict = field(default_factory=dict)


def _empty(shape):
    return np.zeros(shape, np.float32)


def _sigmoid(x):
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


def _gaussian_blob(shape, centre, sigma_mm) -> np.ndarray:
    """Separable 3D Gaussian (three 1D profiles multiplied), cheap on a full grid."""
    profiles = [np.exp(-0.5 * ((np.arange(n) - c) / sigma_mm) ** 2).astype(np.float32) for n, c in zip(shape, centre)]
    return profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def _frame_with_axis(axis, rng) -> np.ndarray:
    """Rotation whose first column is `axis` (lesion long axis), the other two random around it."""
    axis = np.asarray(axis, float)
    axis /= np.linalg.norm(axis) + 1e-9
    helper = rng.standard_normal(3)
    second = helper - helper.dot(axis) * axis
    second /= np.linalg.norm(second) + 1e-9
    return np.stack([axis, second, np.cross(axis, second)], axis=1)


def add_ovoid(target: np.ndarray, centre, radii, rotation, edge=0.15, roughness=0.0, rng=None):
    """Paint a soft ellipsoid (max-combined) into target, only touching its bounding box."""
    reach = int(np.ceil(max(radii) * (1.0 + edge * 3 + roughness))) + 2
    low = [max(0, int(round(c)) - reach) for c in centre]
    high = [min(n, int(round(c)) + reach + 1) for c, n in zip(centre, target.shape)]
    if any(h <= lo for lo, h in zip(low, high)):
        return
    grids = np.meshgrid(*[np.arange(lo, h) - c for lo, h, c in zip(low, high, centre)], indexing="ij")
    offsets = np.stack(grids, axis=-1) @ rotation  # coordinates along the ellipsoid's own axes
    q = np.sqrt(((offsets / np.asarray(radii)) ** 2).sum(axis=-1))
    if roughness > 0 and rng is not None:
        box_shape = q.shape
        q = q - roughness * smooth_noise(rng, box_shape, max(4.0, min(radii)))
    soft = _sigmoid((1.0 - q) / edge)
    box = tuple(slice(lo, h) for lo, h in zip(low, high))
    np.maximum(target[box], soft, out=target[box])


def _white_matter_weight(anatomy: Anatomy, near_ventricle_mm=2.5) -> np.ndarray:
    """Where WMH may sit: white matter, plus the ventricle wall (partial-volumed in the template)."""
    weight = np.clip((anatomy.wm - 0.15) / 0.35, 0.0, 1.0)
    wall = (anatomy.ventricle_distance <= near_ventricle_mm) & ~anatomy.ventricles
    weight[wall] = np.maximum(weight[wall], 0.8)
    weight[anatomy.ventricles] = 0.0
    return weight


def _punctate_foci(rng, anatomy: Anatomy, target, count):
    points = anatomy.deep_wm_points
    for _ in range(count):
        centre = points[rng.integers(len(points))] + rng.uniform(-0.5, 0.5, 3)
        radius = rng.uniform(1.0, 2.5)
        add_ovoid(target, centre, (radius * rng.uniform(1.0, 1.6), radius, radius), _random_rotation(rng))


def radiation_wmh(rng, anatomy: Anatomy, severity: float) -> tuple:
    """Radiation-induced leukoencephalopathy as a soft map; severity 0 (mild) .. 1 (severe)."""
    shape = anatomy.wm.shape
    band_mm = 1.5 + 9.0 * severity ** 1.2                  # rim along the ventricles
    cap_mm = rng.uniform(2.5, 4.0) + 9.0 * severity         # extra thickness at the horns
    cap_sigma = rng.uniform(8.0, 13.0)
    caps = _empty(shape)
    for tip in anatomy.horn_tips.values():
        strength = rng.uniform(0.6, 1.2)
        caps += strength * _gaussian_blob(shape, np.asarray(tip) + rng.normal(0, 2, 3), cap_sigma)
    thickness = band_mm + cap_mm * caps
    # Left/right asymmetry and an irregular front as the disease grows into the deep white matter.
    x = np.arange(shape[2], dtype=np.float32) - shape[2] / 2.0
    asymmetry = 1.0 + rng.uniform(-0.25, 0.25) * np.tanh(x / 10.0)
    thickness *= asymmetry[None, None, :]
    thickness *= 1.0 + (0.25 + 0.2 * severity) * smooth_noise(rng, shape, rng.uniform(10.0, 20.0))
    soft = _sigmoid((thickness - anatomy.ventricle_distance) / 0.8)
    if severity > 0.35:
        # Confluent patches in the deep white matter that join the periventricular band.
        patches = smooth_noise(rng, shape, rng.uniform(12.0, 20.0))
        cutoff = 2.2 - 2.0 * severity
        reach = _sigmoid((12.0 + 18.0 * severity - anatomy.ventricle_distance) / 2.0)
        np.maximum(soft, _sigmoid((patches - cutoff) / 0.15) * reach, out=soft)
    _punctate_foci(rng, anatomy, soft, int(rng.poisson(2 + 8 * severity)))
    soft *= _white_matter_weight(anatomy)
    if severity < 0.85:  # U-fibres are spared until the disease is very advanced
        soft *= np.clip((anatomy.cortex_distance - 1.0) / 2.0, 0.0, 1.0)
    return soft, {"severity": round(float(severity), 4), "band_mm": round(float(band_mm), 3),
                  "cap_mm": round(float(cap_mm), 3)}


def ms_lesions(rng, anatomy: Anatomy, count=None) -> tuple:
    """Many small ovoids: periventricular (long axis perpendicular to the ventricle wall, like
    Dawson's fingers), juxtacortical and deep white matter."""
    shape = anatomy.wm.shape
    count = int(count if count is not None else np.exp(rng.uniform(np.log(5), np.log(60))))
    kinds = rng.choice(["periventricular", "juxtacortical", "deep"], size=count, p=[0.45, 0.2, 0.35])
    soft = _empty(shape)
    gradient_source = anatomy.ventricle_distance
    for kind in kinds:
        points = {"periventricular": anatomy.periventricular_points,
                  "juxtacortical": anatomy.juxtacortical_points,
                  "deep": anatomy.deep_wm_points}[kind]
        centre = points[rng.integers(len(points))].astype(float)
        # Real MS masks (open MS data): median lesion ~0.1 ml, a few over 1 ml.
        radius = float(np.clip(rng.lognormal(np.log(2.6), 0.5), 1.0, 8.0))
        if kind == "periventricular":
            z, y, x = (int(c) for c in centre)
            local = gradient_source[max(z - 1, 0):z + 2, max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
            axis = np.array([np.gradient(local, axis=a).mean() for a in range(3)])
            if not np.any(axis):
                axis = rng.standard_normal(3)
            rotation = _frame_with_axis(axis, rng)
            radii = (radius * rng.uniform(1.6, 2.6), radius, radius * rng.uniform(0.8, 1.0))
            centre = centre + rotation[:, 0] * radii[0] * 0.4  # ovoid starts at the wall and points outwards
        else:
            rotation = _random_rotation(rng)
            radii = (radius * rng.uniform(1.0, 1.8), radius, radius * rng.uniform(0.8, 1.0))
        add_ovoid(soft, centre + rng.uniform(-0.5, 0.5, 3), radii, rotation, edge=0.12)
    soft *= np.maximum(_white_matter_weight(anatomy), (anatomy.cortex_distance <= 3) * 0.7)
    soft[anatomy.ventricles] = 0.0
    return soft, {"lesions_drawn": count,
                  "periventricular": int((kinds == "periventricular").sum()),
                  "juxtacortical": int((kinds == "juxtacortical").sum()),
                  "deep": int((kinds == "deep").sum())}


def glioma(rng, anatomy: Anatomy, severity=None) -> LesionMaps:
    """Treated glioma: resection cavity (or residual tumour), tumour rim and oedema (label 2),
    and radiation WMH elsewhere (label 1): in most cases at a mild-to-moderate severity, or always,
    at `severity`, when one is given (severe WMH beside oedema: both are large and bright)."""
    shape = anatomy.wm.shape
    points = anatomy.deep_wm_points[anatomy.ventricle_distance[tuple(anatomy.deep_wm_points.T)] > 8]
    centre = points[rng.integers(len(points))].astype(float)
    resected = rng.random() < 0.8
    core_radius = rng.uniform(7.0, 18.0)
    core = _empty(shape)
    add_ovoid(core, centre, core_radius * rng.uniform(0.75, 1.25, 3), _random_rotation(rng),
              edge=0.08, roughness=0.15, rng=rng)
    core *= anatomy.brain
    core[anatomy.ventricles] = 0.0

    # Oedema spreads along white matter: its reach shrinks where there is no WM.
    oedema_mm = rng.uniform(4.0, 25.0)
    reach = 40 + int(core_radius * 1.4)
    box = tuple(slice(max(0, int(c) - reach), min(n, int(c) + reach + 1)) for c, n in zip(centre, shape))
    core_box = core[box] > 0.5
    distance = ndi.distance_transform_edt(~core_box).astype(np.float32)
    wm_box = ndi.gaussian_filter(anatomy.wm[box], 1.5)
    thickness = oedema_mm * (0.25 + 0.75 * wm_box)
    thickness *= 1.0 + 0.4 * smooth_noise(rng, distance.shape, 10.0)
    oedema_box = _sigmoid((thickness - distance) / 1.2)
    oedema_box *= np.clip((anatomy.wm[box] + anatomy.gm[box]) * 1.5, 0.0, 1.0)
    oedema_box[anatomy.ventricles[box]] = 0.0
    rim_mm = rng.uniform(1.5, 5.0)
    rim_box = _sigmoid((rim_mm - distance) / 0.7) * (distance > 0) * anatomy.brain[box]

    other, rim, cavity = _empty(shape), _empty(shape), _empty(shape)
    other[box] = np.maximum(oedema_box, rim_box)
    if resected:
        cavity = core
        rim[box] = rim_box * rng.uniform(0.0, 1.0)  # a residual enhancing rim is not always there
    else:
        rim = np.maximum(core, rim)  # the solid tumour itself takes the rim's intensity
    info = {"resected": bool(resected), "core_radius_mm": round(float(core_radius), 2),
            "oedema_mm": round(float(oedema_mm), 2),
            "centre_index_zyx": [int(c) for c in centre]}

    wmh = _empty(shape)
    # Both draws are made even when a severity is given, so that the rest of the case is the same.
    with_wmh, default_severity = rng.random() < 0.75, rng.uniform(0.05, 0.5)
    if with_wmh or severity is not None:
        severity = default_severity if severity is None else float(severity)
        wmh, radiation_info = radiation_wmh(rng, anatomy, severity)
        wmh *= np.clip(1.0 - 2.0 * np.maximum(np.maximum(other, cavity), rim), 0.0, 1.0)
        info["radiation"] = radiation_info
    return LesionMaps(wmh=wmh, other=other, cavity=cavity, rim=rim, info=info)


def draw_lesions(rng, anatomy: Anatomy, phenotype: str, severity=None, lesion_bank=None) -> LesionMaps:
    """The lesion maps of one case for a phenotype ('radiation', 'ms' or 'glioma')."""
    shape = anatomy.wm.shape
    if phenotype == "radiation":
        # Mild and moderate disease are commoner than severe: mean 0.4, still reaching 1.
        severity = rng.beta(1.2, 1.8) if severity is None else float(severity)
        wmh, info = radiation_wmh(rng, anatomy, severity)
        return LesionMaps(wmh=wmh, other=_empty(shape), cavity=_empty(shape), rim=_empty(shape), info=info)
    if phenotype == "ms":
        if lesion_bank is not None:
            from .lesion_bank import bank_lesions

            wmh, info = bank_lesions(rng, anatomy, lesion_bank)
        else:
            wmh, info = ms_lesions(rng, anatomy)
        return LesionMaps(wmh=wmh, other=_empty(shape), cavity=_empty(shape), rim=_empty(shape), info=info)
    if phenotype == "glioma":
        return glioma(rng, anatomy, severity)
    raise ValueError(f"unknown phenotype {phenotype!r}")
