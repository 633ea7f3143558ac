"""Patch sampling biased towards lesions, as a pure function of a numpy Generator.

A patch is centred on a random foreground (lesion) voxel with probability `lesion_fraction`
(default 2/3, so the rare WMH class is seen in most batches), otherwise on a random voxel of the
brain's bounding box. Datasets are drawn with equal weight (or with given weights: a run's target share,
data.dataset_weights), then a case within the dataset, so a small target cohort is not drowned by a large
source one when they are trained together.
"""

from dataclasses import dataclass, field

import numpy as np

DEFAULT_LESION_FRACTION = 2.0 / 3.0


@dataclass
class TrainingCase:
    """One preprocessed case held in memory for sampling."""

    name: str
    dataset: str
    image: np.ndarray  # float16 (z, y, x), normalised, 0 outside the brain
    label: np.ndarray  # uint8 (z, y, x), 0/1/2
    foreground: np.ndarray = field(default=None)  # flat indices of the voxels patches centre on
    box: tuple = None  # ((z0, y0, x0), (z1, y1, x1)) brain bounding box, end exclusive


def prepare_case(name, dataset, image, label, brain_mask, foreground_labels) -> TrainingCase:
    """Precompute what sampling needs: lesion voxel indices and the brain's bounding box."""
    foreground = np.flatnonzero(np.isin(label, foreground_labels)).astype(np.int64)
    where = np.nonzero(brain_mask)
    if where[0].size:
        box = (tuple(int(a.min()) for a in where), tuple(int(a.max()) + 1 for a in where))
    else:
        box = ((0, 0, 0), tuple(int(s) for s in image.shape))
    return TrainingCase(name, dataset, image, label, foreground, box)


def crop_region(array, centre, size, fill=0):
    """array[centre - size//2 : ... + size], padded with `fill` where it leaves the array."""
    out = np.full(size, fill, dtype=array.dtype)
    src, dst = [], []
    for c, s, n in zip(centre, size, array.shape):
        start = int(c) - s // 2
        a0, a1 = max(start, 0), min(start + s, n)
        src.append(slice(a0, a1))
        dst.append(slice(a0 - start, a0 - start + max(a1 - a0, 0)))
    out[tuple(dst)] = array[tuple(src)]
    return out


def choose_centre(case: TrainingCase, rng: np.random.Generator, lesion_fraction) -> tuple:
    if case.foreground.size and rng.random() < lesion_fraction:
        flat = case.foreground[rng.integers(case.foreground.size)]
        return tuple(int(i) for i in np.unravel_index(flat, case.label.shape))
    low, high = case.box
    return tuple(int(rng.integers(lo, hi)) for lo, hi in zip(low, high))


def sample_region(cases_by_dataset, region_size, rng, lesion_fraction=DEFAULT_LESION_FRACTION, weights=None):
    """(image, label, case name) of one region of `region_size` voxels; image float32, label uint8.
    weights: {dataset key: probability} (summing to 1), or None for equal weights."""
    names = sorted(cases_by_dataset)
    if weights is None:  # the draw every run made before weights existed: their patches stay the same
        chosen = names[rng.integers(len(names))]
    else:
        chosen = names[rng.choice(len(names), p=[weights[n] for n in names])]
    cases = cases_by_dataset[chosen]
    case = cases[rng.integers(len(cases))]
    centre = choose_centre(case, rng, lesion_fraction)
    image = crop_region(case.image, centre, region_size).astype(np.float32)
    label = crop_region(case.label, centre, region_size)
    return image, label, case.name
