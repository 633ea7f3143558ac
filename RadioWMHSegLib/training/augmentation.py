"""Data augmentation of training patches (MONAI transforms), driven by an explicit seed.

Spatial: rotation and scaling (always resampled, which also cuts the sampled region down to the
patch, so rotated corners come from real image, not padding), a rare elastic deformation (slow on
a CPU, hence the low probability), left-right flip. Intensity: gamma, Gaussian noise, bias field,
contrast (scale) and brightness (shift). The image is resampled linearly and the label with nearest
neighbour, so labels stay integer. Every call takes its randomness from the seed it is given, so a
patch is a pure function of (seed, epoch, step, rank): that is what makes resume exact.
"""

import math

import numpy as np

# Probabilities and ranges, recorded in the model card. nnU-Net-like, with elastic kept rare on CPU.
DEFAULT_AUGMENTATION = {
    "rotation_deg": 15.0,
    "scale": 0.15,
    "p_affine": 0.5,
    "p_elastic": 0.05,
    "elastic_sigma": (6.0, 8.0),
    "elastic_magnitude": (40.0, 120.0),
    "p_flip_lr": 0.5,
    "p_gamma": 0.15,
    "gamma": (0.7, 1.5),
    "p_noise": 0.15,
    "noise_std": 0.1,
    "p_bias_field": 0.15,
    "bias_coeff": (0.0, 0.1),
    "p_contrast": 0.15,
    "contrast": 0.25,
    "p_brightness": 0.15,
    "brightness": 0.1,
}


def margin_for(patch_size, settings=None) -> tuple:
    """Extra voxels sampled on each side of a patch so that rotation/scaling never pull in padding."""
    settings = settings or DEFAULT_AUGMENTATION
    angle = math.radians(settings["rotation_deg"])
    # A rotated, up-scaled cube reaches out to about (|cos|+|sin|) * (1 + scale) of its half-side.
    grow = (math.cos(angle) + math.sin(angle)) * (1.0 + settings["scale"]) - 1.0
    return tuple(int(math.ceil(s * grow / 2.0)) + 1 for s in patch_size)


class Augmenter:
    """Callable (image, label, seed) -> (image, label) patches of `patch_size` (numpy, (z, y, x))."""

    def __init__(self, patch_size, settings=None, enabled=True):
        from monai import transforms as T

        self.patch_size = tuple(int(s) for s in patch_size)
        self.settings = dict(DEFAULT_AUGMENTATION, **(settings or {}))
        self.enabled = enabled
        s = self.settings
        keys = ("image", "label")
        modes = ("bilinear", "nearest")
        rotation = math.radians(s["rotation_deg"])
        spatial = [
            T.RandAffined(
                keys, spatial_size=self.patch_size, prob=s["p_affine"], rotate_range=(rotation,) * 3,
                scale_range=(s["scale"],) * 3, mode=modes, padding_mode="zeros",
            ),
            T.Rand3DElasticd(
                keys, sigma_range=s["elastic_sigma"], magnitude_range=s["elastic_magnitude"],
                spatial_size=self.patch_size, prob=s["p_elastic"], mode=modes, padding_mode="zeros",
            ),
            # Arrays are (channel, z, y, x): spatial axis 2 is x, left-right in MNI space.
            T.RandFlipd(keys, prob=s["p_flip_lr"], spatial_axis=2),
        ]
        intensity = [
            T.RandAdjustContrastd("image", prob=s["p_gamma"], gamma=s["gamma"], retain_stats=True),
            T.RandGaussianNoised("image", prob=s["p_noise"], std=s["noise_std"]),
            T.RandBiasFieldd("image", prob=s["p_bias_field"], coeff_range=s["bias_coeff"]),
            T.RandScaleIntensityd("image", factors=s["contrast"], prob=s["p_contrast"]),
            T.RandShiftIntensityd("image", offsets=s["brightness"], prob=s["p_brightness"]),
        ]
        self.pipeline = T.Compose(spatial + intensity)
        self.crop_only = T.CenterSpatialCropd(keys, roi_size=self.patch_size)

    def __call__(self, image, label, seed):
        data = {"image": image[None].astype(np.float32), "label": label[None].astype(np.float32)}
        if self.enabled:
            self.pipeline.set_random_state(seed=int(seed) % (2**32))
            data = self.pipeline(data)
        else:
            data = self.crop_only(data)
        out_image = np.asarray(data["image"], dtype=np.float32)[0]
        out_label = np.rint(np.asarray(data["label"], dtype=np.float32)[0]).astype(np.uint8)
        return out_image, out_label
