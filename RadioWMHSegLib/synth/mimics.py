"""Hard negatives: normal structures that are bright on FLAIR and are not WMH (label 0).

The bundled model's false positives on real scans sit on exactly these (docs/model.md): bright
cortex along its folds, the septum pellucidum, choroid plexus, CSF flow artefacts in the
ventricles, and thin periventricular caps at the frontal horns, which are normal at 1-2.5 mm. Each
is painted into the template-space image of a share of the cases (PROBABILITY), never over a
lesion, and the label is left as it is, so the network learns to leave them out.

Drawn from the case's own stream np.random.default_rng([seed, MIMIC_STREAM]): a seed's lesions,
contrast, deformation and acquisition are those it had without them. Generator version 4 added bright
normal white matter, from a stream of its own ([seed, MIMIC_STREAM, 1]) so that the other mimics of a
seed stayed as version 3 drew them. Not here: atrophy with enlarged ventricles (it would move the
lesions too, a deformation of its own).
"""

import numpy as np

from .anatomy import Anatomy
from .lesions import _gaussian_blob, _random_rotation, _sigmoid, add_ovoid
from .random_fields import smooth_noise

MIMIC_STREAM = 4
# Share of cases that show each mimic: often enough to be learnt, absent often enough that the
# network cannot take one for granted.
PROBABILITY = {"bright_cortex": 0.5, "septum": 0.4, "choroid_plexus": 0.5, "csf_flow": 0.3, "normal_caps": 0.5}


def _bright_cortex(rng, anatomy: Anatomy, contrast) -> tuple:
    """Patches of cortex 10-30 % brighter than the case's grey matter, following its folds: as bright as
    a lesion on some scans (cortical FLAIR signal varies with coil and sequence)."""
    cortex = np.clip((anatomy.gm - 0.3) / 0.4, 0.0, 1.0) * anatomy.brain
    cutoff = float(rng.uniform(1.0, 1.8))  # higher: fewer, smaller patches (about 5-25 % of the cortex)
    patches = _sigmoid((smooth_noise(rng, cortex.shape, float(rng.uniform(8.0, 16.0))) - cutoff) / 0.2)
    level = min(1.7, contrast["gm"] * float(rng.uniform(1.1, 1.3)))
    return cortex * patches, level, {"cutoff": round(cutoff, 3)}


def _septum(rng, anatomy: Anatomy, contrast) -> tuple:
    """The septum pellucidum: a sheet 1-3 mm thick on the midline between the two lateral ventricles."""
    ventricles = anatomy.ventricles
    columns = np.nonzero(ventricles.any(axis=(0, 1)))[0]
    middle = int(round(columns.mean())) if len(columns) else ventricles.shape[2] // 2
    half = float(rng.uniform(0.5, 1.5))
    x = np.arange(ventricles.shape[2], dtype=np.float32) - middle
    plane = np.clip(half + 0.5 - np.abs(x), 0.0, 1.0)[None, None, :]
    # Between the ventricles: ventricle within 5 mm on the left and on the right of the midline.
    left = ventricles[:, :, max(0, middle - 6):middle].any(axis=2)
    right = ventricles[:, :, middle + 1:middle + 7].any(axis=2)
    between = (left & right).astype(np.float32)[:, :, None]
    return plane * between, float(rng.uniform(1.0, 1.4)), {"half_thickness_mm": round(half, 3)}


def _blobs_in_ventricles(rng, anatomy: Anatomy, count, radius_mm) -> np.ndarray:
    soft = np.zeros(anatomy.wm.shape, np.float32)
    points = np.argwhere(anatomy.ventricles)
    for _ in range(count):
        centre = points[rng.integers(len(points))] + rng.uniform(-0.5, 0.5, 3)
        radius = rng.uniform(*radius_mm)
        add_ovoid(soft, centre, (radius * rng.uniform(1.0, 1.8), radius, radius), _random_rotation(rng))
    return soft * (anatomy.ventricle_distance <= 1.0)  # in the ventricle or on its wall, not beyond


def _choroid_plexus(rng, anatomy: Anatomy, contrast) -> tuple:
    count = int(rng.integers(1, 4))
    soft = _blobs_in_ventricles(rng, anatomy, count, (2.0, 4.0))
    return soft, float(rng.uniform(0.9, 1.5)), {"count": count}


def _csf_flow(rng, anatomy: Anatomy, contrast) -> tuple:
    count = int(rng.integers(1, 5))
    soft = _blobs_in_ventricles(rng, anatomy, count, (1.0, 3.0))
    return soft, float(rng.uniform(0.6, 1.4)), {"count": count}


def _normal_caps(rng, anatomy: Anatomy, contrast) -> tuple:
    """Thin hyperintense caps at the frontal horns, 1-2.5 mm: normal at any age, not WMH."""
    shape = anatomy.wm.shape
    thickness = float(rng.uniform(1.0, 2.5))
    near_tips = np.zeros(shape, np.float32)
    for name, tip in anatomy.horn_tips.items():
        if name.startswith("frontal"):
            np.maximum(near_tips, _gaussian_blob(shape, np.asarray(tip) + rng.normal(0, 1.5, 3), 6.0), out=near_tips)
    rim = _sigmoid((thickness - anatomy.ventricle_distance) / 0.5) * (~anatomy.ventricles)
    return rim * near_tips, float(rng.uniform(1.1, 1.35)), {"thickness_mm": round(thickness, 3)}


def _bright_white_matter(rng, anatomy: Anatomy, contrast) -> tuple:
    """Broad, faint patches of normal white matter 3-12 % brighter than the rest, away from the cortex: real
    white matter is not even (tracts, the posterior periventricular zones). Without them, a model taught faint
    WMH (1.08-1.2 x WM, `synth --wmh-contrast`) marked such white matter on real scans (docs/model.md)."""
    deep_white = np.clip((anatomy.wm - 0.5) / 0.3, 0.0, 1.0) * np.clip((anatomy.cortex_distance - 2.0) / 2.0, 0.0, 1.0)
    cutoff = float(rng.uniform(0.3, 1.2))  # higher: fewer, smaller patches
    patches = _sigmoid((smooth_noise(rng, deep_white.shape, float(rng.uniform(10.0, 20.0))) - cutoff) / 0.3)
    return deep_white * patches, float(rng.uniform(1.03, 1.12)), {"cutoff": round(cutoff, 3)}


# Generator version 4's mimic, on its own stream (see the module's docstring).
WHITE_MATTER_PROBABILITY = 0.6

PAINTERS = {"bright_cortex": _bright_cortex, "septum": _septum, "choroid_plexus": _choroid_plexus,
            "csf_flow": _csf_flow, "normal_caps": _normal_caps}


def add_mimics(image: np.ndarray, seed: int, anatomy: Anatomy, lesions, contrast: dict) -> dict:
    """Paint case `seed`'s hard negatives into its template-space image (relative units, WM = 1) in place,
    never over a lesion (lesions: synth.lesions.LesionMaps; contrast: contrast.draw_contrast's); returns
    {mimic: what was drawn}."""
    rng = np.random.default_rng([int(seed), MIMIC_STREAM])
    present = {name: bool(rng.random() < p) for name, p in PROBABILITY.items()}
    lesion = np.clip(lesions.wmh + lesions.other + lesions.cavity + lesions.rim, 0.0, 1.0)
    # Half a voxel's partial volume away from any lesion, so the label's edge stays the lesion's own.
    free = np.clip(1.0 - 2.0 * lesion, 0.0, 1.0) * anatomy.brain
    drawn = {}
    white_matter_rng = np.random.default_rng([int(seed), MIMIC_STREAM, 1])
    painters = [(rng, name, paint) for name, paint in PAINTERS.items() if present[name]]
    if white_matter_rng.random() < WHITE_MATTER_PROBABILITY:
        painters.append((white_matter_rng, "bright_white_matter", _bright_white_matter))
    for rng, name, paint in painters:
        soft, level, info = paint(rng, anatomy, contrast)
        soft = (soft * free).astype(np.float32)
        image += soft * (level - image)
        drawn[name] = dict(info, level=round(level, 3), voxels=int((soft > 0.5).sum()))
    return drawn
