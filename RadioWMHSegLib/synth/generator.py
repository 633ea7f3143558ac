"""Synthetic FLAIR cases with WMH labels on the network's crop grid, and cohorts of them on disk.

One case: template anatomy -> lesions drawn in template space -> FLAIR contrast with partial
volumes (and, skull on, the head around the brain: head.py) -> one random deformation (affine +
elastic) applied once to image and labels -> acquisition effects (bias, blur, thick slices, noise)
-> skull-stripped with exact zeros outside the deformed brain mask, or the whole head kept.
The same seed always gives the same arrays.
"""

import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from .. import datasets
from ..errors import DatasetError, InputError
from ..templates import TEMPLATE_NAME
from .anatomy import template_anatomy
from .contrast import acquisition, draw_contrast, rounded, template_space_image
from .deformation import nearest_indices, random_deformation, warp_linear, warp_nearest
from .head import head_model
from .lesions import PHENOTYPES, draw_lesions
from .mimics import add_mimics

# Bumped whenever a seed stops giving the same cases, so that a resumed cohort never mixes two versions.
# 2: the realistic head of synth/head.py (cases with --skull differ from version 1's).
# 3: hard negatives (synth/mimics.py) painted by default.
# 4: bright normal white matter among them (mimics._bright_white_matter), on a stream of its own.
GENERATOR_VERSION = 4
# Inside the brain no voxel may be (near) 0, as a fraction of the WM level: the brain mask of a
# stripped image is its non-background voxels (preprocessing.skull_strip.mask_from_stripped keeps
# voxels above 1e-3 of the image maximum, about 1-2 here).
_MIN_BRAIN_FRACTION_OF_WM = 0.02


def _check_phenotype(phenotype) -> str:
    if phenotype not in PHENOTYPES:
        raise InputError(f"unknown phenotype {phenotype!r}: use one of {', '.join(PHENOTYPES)}")
    return phenotype


def _label_in_template_space(lesions, brain) -> np.ndarray:
    label = np.zeros(brain.shape, np.uint8)
    label[lesions.wmh > 0.5] = 1
    label[(lesions.other > 0.5) | (lesions.cavity > 0.5) | (lesions.rim > 0.5)] = 2
    label[brain == 0] = 0
    return label


def _to_image(array: np.ndarray, grid: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def generate_case(seed, phenotype, *, skull=False, thick_slice_probability=0.3, lesion_bank=None,
                  severity=None, grid=None, hard_negatives=True, wmh_contrast=None) -> tuple:
    """One synthetic FLAIR: (image float32, label uint8 {0,1,2}, metadata dict) on `grid` (default the
    crop grid). severity (0 mild .. 1 severe) applies to the radiation WMH of 'radiation' and 'glioma' ('ms'
    ignores it); lesion_bank (a folder of MNI lesion masks) to 'ms'. skull=True keeps a whole head around
    the brain (give a grid with room for it, e.g. anatomy.padded_crop_grid()). hard_negatives: paint
    normal bright structures that are not WMH (synth/mimics.py). wmh_contrast: the WMH's brightness
    relative to white matter (> 1), instead of the drawn one."""
    image, label, _, metadata = generate_case_with_brain(
        seed, phenotype, skull=skull, thick_slice_probability=thick_slice_probability,
        lesion_bank=lesion_bank, severity=severity, grid=grid, hard_negatives=hard_negatives,
        wmh_contrast=wmh_contrast)
    return image, label, metadata


def generate_case_with_brain(seed, phenotype, *, skull=False, thick_slice_probability=0.3, lesion_bank=None,
                             severity=None, grid=None, hard_negatives=True, wmh_contrast=None) -> tuple:
    """generate_case() plus the case's true brain mask (uint8 0/1, the deformed template brain): what a
    brain extraction of the skull-on image should find."""
    started = time.perf_counter()
    _check_phenotype(phenotype)
    if severity is not None and not 0.0 <= float(severity) <= 1.0:
        raise InputError(f"severity {severity} is outside 0..1: use 0 (mild) to 1 (severe), or leave it out")
    if not 0.0 <= float(thick_slice_probability) <= 1.0:
        raise InputError(f"thick-slice probability {thick_slice_probability} is outside 0..1")
    if wmh_contrast is not None:
        _check_wmh_contrast_range((wmh_contrast, wmh_contrast))
    seed = int(seed)
    rng = np.random.default_rng(seed)
    anatomy = template_anatomy(grid)
    shape = anatomy.wm.shape

    lesions = draw_lesions(rng, anatomy, phenotype, severity=severity, lesion_bank=lesion_bank)
    contrast = draw_contrast(rng, wmh_contrast)
    relative = template_space_image(rng, anatomy, lesions, contrast)
    # From their own stream, like the head: the rest of the case is what the seed gave without them.
    mimics = add_mimics(relative, seed, anatomy, lesions, contrast) if hard_negatives else None
    head = None
    if skull:
        # The head draws from its own stream (head.HEAD_STREAM): everything else in this case is
        # drawn exactly as for the skull-stripped case of the same seed.
        head = head_model(seed, anatomy, contrast["csf"])
        relative += head.image
    label_template = _label_in_template_space(lesions, anatomy.brain)

    deformation = random_deformation(rng, shape)
    image = warp_linear(relative, deformation)
    indices = nearest_indices(deformation, shape)
    brain = warp_nearest(anatomy.brain, indices)
    label = warp_nearest(label_template, indices)
    label[brain == 0] = 0

    image, acquisition_drawn = acquisition(rng, image, thick_slice_probability)
    image *= contrast["wm_level"]
    np.maximum(image, 0.0, out=image)  # magnitude images are never negative
    if not skull:
        inside = brain > 0
        image[~inside] = 0.0
        image[inside] = np.maximum(image[inside], _MIN_BRAIN_FRACTION_OF_WM * contrast["wm_level"])

    wmh_components = int(ndi.label(label == 1, structure=np.ones((3, 3, 3)))[1])  # 26-connected lesions
    metadata = {
        "seed": seed,
        "phenotype": phenotype,
        "generator_version": GENERATOR_VERSION,
        "skull": bool(skull),
        "wmh_volume_ml": round(float((label == 1).sum()) / 1000.0, 3),
        "wmh_lesion_count": wmh_components,
        "other_pathology_volume_ml": round(float((label == 2).sum()) / 1000.0, 3),
        "lesions": lesions.info,
        "contrast": rounded(contrast),
        "acquisition": acquisition_drawn,
        "hard_negatives": mimics,
        "deformation": deformation.parameters,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if head is not None:
        metadata["head"] = head.info
    grid_image = anatomy.grid
    return (_to_image(image.astype(np.float32), grid_image), _to_image(label.astype(np.uint8), grid_image),
            _to_image(brain.astype(np.uint8), grid_image), metadata)


def case_seed(cohort_seed: int, index: int) -> int:
    """The seed of case `index` of a cohort: fixed by (cohort seed, index), whatever the cohort size."""
    return int(np.random.SeedSequence([int(cohort_seed), int(index)]).generate_state(1)[0])


def _phenotype_choices(phenotype) -> list:
    if isinstance(phenotype, str):
        return list(PHENOTYPES) if phenotype == "mixed" else [_check_phenotype(phenotype)]
    choices = [_check_phenotype(p) for p in phenotype]
    if not choices:
        raise InputError("the phenotype list is empty: give at least one of " + ", ".join(PHENOTYPES))
    return choices


def case_phenotype(choices: list, cohort_seed: int, index: int) -> str:
    if len(choices) == 1:
        return choices[0]
    rng = np.random.default_rng([int(cohort_seed), int(index), 1])
    return choices[int(rng.integers(len(choices)))]


def _as_range(value) -> list:
    """A command line's one value or LOW HIGH as a list of floats; one value stands for [value, value]."""
    values = [float(v) for v in ([value] if np.isscalar(value) else value)]
    return values * 2 if len(values) == 1 else values


def _draw_in_range(value_range, cohort_seed: int, index: int, stream: int):
    """Case `index`'s value, drawn uniformly in the range from a stream of its own, so that a range given
    changes nothing else of the case (None: no range given)."""
    if value_range is None:
        return None
    low, high = value_range
    return float(np.random.default_rng([int(cohort_seed), int(index), stream]).uniform(low, high))


def _check_severity_range(severity, choices) -> tuple:
    """(low, high) within 0..1, or None (severity drawn from the phenotype's own distribution)."""
    if severity is None:
        return None
    values = _as_range(severity)
    if len(values) != 2 or not 0.0 <= values[0] <= values[1] <= 1.0:
        raise InputError(f"severity {severity} is not a range within 0..1: give one value or LOW HIGH "
                         "with 0 <= LOW <= HIGH <= 1 (0 mild, 1 severe)")
    if not {"radiation", "glioma"} & set(choices):
        raise InputError("a severity applies to radiation-induced WMH (alone, or beside a glioma) only: "
                         "add the 'radiation' or 'glioma' phenotype, or leave it out")
    return tuple(values)


def case_severity(severity_range, cohort_seed: int, index: int):
    """Case `index`'s severity in the range (None: no range given)."""
    return _draw_in_range(severity_range, cohort_seed, index, 2)


# WMH brighter than white matter, and not beyond the brightest drawn by default (1.9) by much.
WMH_CONTRAST_LIMITS = (1.0, 2.5)


def _check_wmh_contrast_range(wmh_contrast) -> tuple:
    """(low, high) WMH brightness relative to white matter, or None (drawn per case as by default)."""
    if wmh_contrast is None:
        return None
    values = _as_range(wmh_contrast)
    bottom, top = WMH_CONTRAST_LIMITS
    if len(values) != 2 or not bottom < values[0] <= values[1] <= top:
        raise InputError(f"WMH contrast {wmh_contrast} is not a range of WMH brightness over white matter: give one "
                         f"value or LOW HIGH with {bottom} < LOW <= HIGH <= {top} (e.g. 1.05 1.2 for faint WMH)")
    return tuple(values)


def case_wmh_contrast(contrast_range, cohort_seed: int, index: int):
    """Case `index`'s WMH brightness in the range (None: no range given)."""
    return _draw_in_range(contrast_range, cohort_seed, index, 3)


def _generator_record(n_cases, phenotype, seed, skull, lesion_bank, thick_slice_probability, hard_negatives,
                      severity_range=None, contrast_range=None) -> dict:
    record = {"version": GENERATOR_VERSION, "n_cases": int(n_cases),
              "phenotype": phenotype if isinstance(phenotype, str) else list(phenotype), "seed": int(seed),
              "skull": bool(skull), "lesion_bank": None if lesion_bank is None else str(lesion_bank),
              "thick_slice_probability": float(thick_slice_probability), "hard_negatives": bool(hard_negatives)}
    if severity_range is not None:  # only when given, so that cohorts written before it still resume
        record["severity"] = list(severity_range)
    if contrast_range is not None:
        record["wmh_contrast"] = list(contrast_range)
    return record


def _open_cohort_folder(output_dir: Path, record: dict, name, resume: bool) -> dict:
    if (output_dir / datasets.DATASET_JSON).exists() and resume:
        data = datasets.read_dataset_json(output_dir)
        previous = dict(data.get("generator") or {})
        if {k: v for k, v in previous.items() if k != "n_cases"} != {k: v for k, v in record.items() if k != "n_cases"}:
            raise DatasetError(f"{output_dir} was generated with other settings ({previous}): "
                               "resume with the same phenotype, seed and options, or choose a new folder")
        data["generator"] = record
        return data
    if output_dir.exists() and any(output_dir.iterdir()):
        raise DatasetError(f"{output_dir} is not empty: choose a new folder, or resume an interrupted generation")
    skull = record["skull"]
    description = (f"synthetic FLAIR cohort ({record['phenotype']}, seed {record['seed']}) made by "
                   f"RadioWMHSegLib.synth version {GENERATOR_VERSION}")
    datasets.create_dataset(output_dir, name or output_dir.name, space=TEMPLATE_NAME,
                            skull_stripped=not skull, description=description, extra={"generator": record})
    return datasets.read_dataset_json(output_dir)


def generate_cohort(output_dir, n_cases, phenotype, seed, *, skull=False, lesion_bank=None,
                    thick_slice_probability=0.3, name=None, progress=True, resume=False, hard_negatives=True,
                    severity=None, wmh_contrast=None) -> Path:
    """Write n_cases synthetic cases as a dataset folder (space MNI152NLin2009cSym) and return it.

    phenotype: 'radiation', 'ms', 'glioma', 'mixed' (random per case) or a list to pick from.
    severity: None (radiation severity drawn from its default, mostly mild-to-moderate, distribution),
    one value, or (low, high) drawn uniformly per case, e.g. (0.7, 1.0) for severe confluent disease.
    wmh_contrast: None (drawn per case, 15 % of cases faint), one value or (low, high): the WMH's
    brightness relative to white matter, e.g. (1.05, 1.2) for faint WMH.
    Refuses a non-empty folder unless resume=True, which keeps the cases already written.
    """
    n_cases = int(n_cases)
    if n_cases < 1:
        raise InputError(f"number of cases {n_cases} must be at least 1")
    choices = _phenotype_choices(phenotype)
    severity_range = _check_severity_range(severity, choices)
    contrast_range = _check_wmh_contrast_range(wmh_contrast)
    if lesion_bank is not None:
        from .lesion_bank import bank_files

        bank_files(lesion_bank)  # fail before writing anything
    output_dir = Path(output_dir)
    record = _generator_record(n_cases, phenotype, seed, skull, lesion_bank, thick_slice_probability, hard_negatives,
                               severity_range, contrast_range)
    data = _open_cohort_folder(output_dir, record, name, resume)
    entries = {e.get("case"): e for e in data["training"]}
    width = max(3, len(str(n_cases - 1)))
    indices = range(n_cases)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="synthesising", unit="case")
    for index in indices:
        case_name = f"case_{index:0{width}d}"
        if case_name in entries:
            continue
        phenotype_i = case_phenotype(choices, seed, index)
        image, label, metadata = generate_case(case_seed(seed, index), phenotype_i, skull=skull,
                                               thick_slice_probability=thick_slice_probability,
                                               lesion_bank=lesion_bank, hard_negatives=hard_negatives,
                                               severity=case_severity(severity_range, seed, index),
                                               wmh_contrast=case_wmh_contrast(contrast_range, seed, index))
        # A crash between writing files and dataset.json leaves orphan files of this very case:
        # regenerating gives identical content, so on resume they may be replaced.
        entry = datasets.write_case_files(output_dir, case_name, image, label, overwrite=resume)
        entry.update(metadata)
        data["training"].append(entry)
        datasets.write_dataset_json(output_dir, data)
    return output_dir
