"""FLAIR-like contrast and acquisition effects for the generator.

Contrast is drawn per tissue relative to white matter (WM = 1) over wide ranges, so a network
trained on it cannot learn one fixed intensity: CSF dark, WM below GM, lesions brighter than WM
(sometimes only slightly). Acquisition effects (bias field, blur, thick slices, noise) are applied
after the anatomical deformation, as a scanner would.
"""

import numpy as np

from .anatomy import Anatomy
from .lesions import LesionMaps
from .random_fields import smooth_noise, upsample

_RETIRED_DRAWS = 6


def draw_contrast(rng, wmh_contrast=None) -> dict:
    """Relative tissue intensities (WM = 1) and the absolute WM level of one case.

    Ranges bracket what real FLAIRs show: on the open MS dev case, lesions are 1.16-1.50 x WM
    (10th-90th percentile, median 1.33). wmh_contrast, when given, replaces the drawn lesion brightness
    after every draw is taken, so the rest of the case stays what its seed gives.
    """
    subtle_lesion = rng.random() < 0.15
    flat_grey = rng.random() < 0.1
    drawn = {
        "wm_level": float(rng.uniform(250.0, 450.0)),
        "csf": float(rng.uniform(0.05, 0.35)),
        "gm": float(rng.uniform(0.95, 1.05) if flat_grey else rng.uniform(1.08, 1.45)),
        "wmh": float(rng.uniform(1.08, 1.2) if subtle_lesion else rng.uniform(1.2, 1.9)),
        "wmh_heterogeneity": float(rng.uniform(0.03, 0.15)),
        "oedema": float(rng.uniform(1.2, 1.8)),
        "rim": float(rng.uniform(1.1, 2.2)),
        "cavity": float(rng.uniform(0.05, 0.5)),
        "texture": float(rng.uniform(0.02, 0.07)),
        "tissue_sharpening": float(rng.uniform(1.0, 2.0)),
    }
    # Six draws that once set a skull shell (the head now has its own stream, head.py): still taken,
    # so that every later draw of a seed, and hence its skull-stripped case, stays as it was.
    rng.random(_RETIRED_DRAWS)
    if wmh_contrast is not None:
        drawn["wmh"] = float(wmh_contrast)
    return drawn


def rounded(values: dict) -> dict:
    """The drawn values rounded for a readable dataset.json."""
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


def template_space_image(rng, anatomy: Anatomy, lesions: LesionMaps, contrast: dict) -> np.ndarray:
    """The noise-free brain in template space (relative units, WM = 1, 0 outside), partial volumes mixed."""
    # Sharpen the (smooth, population-average) tissue maps a little so tissue edges look like one brain.
    power = contrast["tissue_sharpening"]
    gm, wm, csf = anatomy.gm ** power, anatomy.wm ** power, anatomy.csf ** power
    total = gm + wm + csf
    total[total == 0] = 1.0
    image = (gm * contrast["gm"] + wm * 1.0 + csf * contrast["csf"]) * anatomy.brain / total
    image *= 1.0 + contrast["texture"] * smooth_noise(rng, image.shape, 3.0)
    lesion_level = contrast["wmh"] * (1.0 + contrast["wmh_heterogeneity"] * smooth_noise(rng, image.shape, 6.0))
    image += lesions.wmh * (lesion_level - image)
    for key, level in (("other", contrast["oedema"]), ("rim", contrast["rim"]), ("cavity", contrast["cavity"])):
        soft = getattr(lesions, key)
        if soft.any():
            image += soft * (level - image)
    return image.astype(np.float32)


def bias_field(rng, shape, strength=None) -> tuple:
    """Smooth multiplicative field exp(s * noise) with s the std of its log (0..0.25)."""
    strength = rng.uniform(0.0, 0.25) if strength is None else strength
    coarse = rng.standard_normal((4, 5, 4)).astype(np.float32)
    field = upsample(coarse, shape)
    field /= field.std() + 1e-6
    return np.exp(strength * field).astype(np.float32), float(strength)


def thick_slices(image: np.ndarray, axis: int, thickness: int) -> np.ndarray:
    """Average `thickness` 1 mm planes along `axis` into one slice, then linearly interpolate back to
    1 mm: what the pipeline sees after resampling a 2D FLAIR with thick slices."""
    n = image.shape[axis]
    padded_n = int(np.ceil(n / thickness)) * thickness
    pad = [(0, 0)] * 3
    pad[axis] = (0, padded_n - n)
    moved = np.moveaxis(np.pad(image, pad, mode="edge"), axis, 0)
    slices = moved.reshape(padded_n // thickness, thickness, *moved.shape[1:]).mean(axis=1)
    # Centre of each thick slice, in 1 mm plane units, and linear interpolation between centres.
    position = (np.arange(n) - (thickness - 1) / 2.0) / thickness
    low = np.clip(np.floor(position).astype(int), 0, len(slices) - 1)
    high = np.clip(low + 1, 0, len(slices) - 1)
    weight = np.clip(position - low, 0.0, 1.0).astype(np.float32)[:, None, None]
    resampled = slices[low] * (1.0 - weight) + slices[high] * weight
    return np.ascontiguousarray(np.moveaxis(resampled, 0, axis), dtype=np.float32)


def add_noise(rng, image: np.ndarray, sigma: float, rician: bool) -> np.ndarray:
    noise = rng.standard_normal(image.shape, dtype=np.float32) * sigma
    if not rician:
        return image + noise
    imaginary = rng.standard_normal(image.shape, dtype=np.float32) * sigma
    return np.sqrt((image + noise) ** 2 + imaginary ** 2)


def acquisition(rng, image: np.ndarray, thick_slice_probability: float) -> tuple:
    """Bias field, blur, noise and optional thick slices; returns the image and what was drawn."""
    from scipy import ndimage as ndi

    field, bias_strength = bias_field(rng, image.shape)
    image = image * field
    blur_sigma = float(rng.uniform(0.0, 0.9)) if rng.random() < 0.6 else 0.0
    if blur_sigma > 0.2:
        image = ndi.gaussian_filter(image, blur_sigma)
    sigma = float(rng.uniform(0.01, 0.06))
    rician = bool(rng.random() < 0.7)
    image = add_noise(rng, image, sigma, rician)
    thick = None
    if rng.random() < thick_slice_probability:
        # After the noise: a thick slice averages its noise too, and interpolating back to 1 mm
        # smooths both signal and noise along the slice axis, as resampling a real 2D FLAIR does.
        axis = int(rng.integers(0, 3))
        thickness = int(rng.integers(3, 8))
        image = thick_slices(image, axis, thickness)
        thick = {"axis": ["axial", "coronal", "sagittal"][axis], "array_axis_zyx": axis, "thickness_mm": thickness}
    drawn = {"bias_field_log_std": round(bias_strength, 4), "blur_sigma_mm": round(blur_sigma, 3),
             "thick_slices": thick, "noise_sigma": round(sigma, 4), "noise": "rician" if rician else "gaussian"}
    return image.astype(np.float32), drawn

