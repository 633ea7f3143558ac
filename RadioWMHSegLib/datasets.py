"""The one folder layout for all labelled data, and readers that bring BraTS and MSD data into it.

    MyDataset/dataset.json
    MyDataset/imagesTr/<case>_0000.nii.gz
    MyDataset/labelsTr/<case>.nii.gz
    MyDataset/predictionsTr/<case>.nii.gz     (optional: a model's mask kept beside the reference)

`space` says whether images already lie on the MNI152 2009c grid (synthetic cohorts) or in their
own scanner space ('native': cases exported from Slicer, BraTS, MSD). Every write is atomic and
nothing is overwritten: a case name that exists gets a new version (<case>_v2, _v3, ...).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import SimpleITK as sitk

from .errors import DatasetError, InputError
from .geometry import grid_difference
from .safe_write import atomic_write_image, atomic_write_json, safe_name

DATASET_JSON = "dataset.json"
FILE_ENDING = ".nii.gz"
# 3 "unscored": voxels that count in neither the training loss nor the validation score, for regions whose label
# is open or follows another convention (sim_vent_wmh's periventricular bands, which its authors call normal and the
# open MS masks leave out; docs/model.md). Never written by the network; a mask need not hold it.
LABELS = {"background": 0, "WMH": 1, "other_pathology": 2, "unscored": 3}
UNSCORED_LABEL = LABELS["unscored"]
SPACES = ("MNI152NLin2009cSym", "native")
# Entry keys that are file references; everything else in an entry is the case's metadata.
_FILE_KEYS = ("case", "image", "label", "prediction")


@dataclass
class Case:
    name: str
    image_path: Path
    label_path: Path
    metadata: dict = field(default_factory=dict)
    prediction_path: Optional[Path] = None


@dataclass
class Dataset:
    path: Path
    name: str
    space: str
    skull_stripped: bool
    labels: dict
    cases: list
    description: str = ""


def image_relpath(case_name: str) -> str:
    return f"imagesTr/{case_name}_0000{FILE_ENDING}"


def label_relpath(case_name: str) -> str:
    return f"labelsTr/{case_name}{FILE_ENDING}"


def prediction_relpath(case_name: str) -> str:
    return f"predictionsTr/{case_name}{FILE_ENDING}"


def read_dataset_json(dataset_dir) -> dict:
    path = Path(dataset_dir) / DATASET_JSON
    if not path.is_file():
        raise DatasetError(f"{path} is missing: a dataset folder needs a dataset.json (make one with create_dataset or 'radiowmhseg synth')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}): fix or recreate it") from exc
    if not isinstance(data, dict) or not isinstance(data.get("training", []), list):
        raise DatasetError(f"{path} must hold a JSON object with a 'training' list of cases: fix or recreate it")
    return data


def write_dataset_json(dataset_dir, data: dict) -> Path:
    """Rewrite dataset.json atomically (it is the dataset's own index, so replacing it is intended)."""
    data = dict(data)
    data["numTraining"] = len(data.get("training", []))
    return atomic_write_json(Path(dataset_dir) / DATASET_JSON, data, overwrite=True)


def _new_dataset_json(name, space, skull_stripped, description) -> dict:
    if space not in SPACES:
        raise DatasetError(f"dataset space {space!r} is unknown: use one of {', '.join(SPACES)}")
    return {"name": str(name), "description": str(description), "space": space,
            "skull_stripped": bool(skull_stripped), "labels": dict(LABELS), "numTraining": 0,
            "file_ending": FILE_ENDING, "training": []}


def create_dataset(path, name=None, space="native", skull_stripped=False, description="", extra=None) -> Path:
    """Make an empty dataset folder (dataset.json, imagesTr/, labelsTr/); refuses an existing dataset."""
    path = Path(path)
    if (path / DATASET_JSON).exists():
        raise DatasetError(f"{path} already holds a dataset.json: add cases to it with add_case or choose a new folder")
    data = _new_dataset_json(name or path.name, space, skull_stripped, description)
    data.update(extra or {})
    (path / "imagesTr").mkdir(parents=True, exist_ok=True)
    (path / "labelsTr").mkdir(parents=True, exist_ok=True)
    write_dataset_json(path, data)
    return path


def _read_header(path: Path):
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise DatasetError(f"cannot read {path} ({str(exc).strip().splitlines()[-1]}): replace the file") from exc
    return reader


def entry_to_case(dataset_dir: Path, entry: dict, index: int) -> Case:
    """One 'training' entry of dataset.json as a Case, named as every command names it; DatasetError if malformed."""
    if not isinstance(entry, dict) or not all(k in entry for k in ("image", "label")):
        raise DatasetError(f"entry {index} of {dataset_dir / DATASET_JSON} lacks 'image' or 'label': fix dataset.json")
    name = str(entry.get("case") or Path(entry["label"]).name.split(".")[0])
    prediction = entry.get("prediction")
    return Case(name=name, image_path=dataset_dir / entry["image"], label_path=dataset_dir / entry["label"],
                metadata={k: v for k, v in entry.items() if k not in _FILE_KEYS},
                prediction_path=dataset_dir / prediction if prediction else None)


def load_dataset(path, check_geometry=True) -> Dataset:
    """Read a dataset folder; refuses missing files and image/label pairs of different geometry."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"dataset folder {path} does not exist: give a folder with dataset.json, imagesTr/ and labelsTr/")
    data = read_dataset_json(path)
    cases = [entry_to_case(path, entry, i) for i, entry in enumerate(data.get("training", []))]
    seen = set()
    for case in cases:
        if case.name in seen:
            raise DatasetError(f"case {case.name} is listed twice in {path / DATASET_JSON}: remove the duplicate entry")
        seen.add(case.name)
        for kind, file in (("image", case.image_path), ("label", case.label_path)):
            if not file.is_file():
                raise DatasetError(f"case {case.name}: {kind} file {file} is missing: restore it or remove the case from dataset.json")
        if check_geometry:
            problem = grid_difference(_read_header(case.image_path), _read_header(case.label_path))
            if problem:
                raise DatasetError(f"case {case.name}: image and label have different geometry ({problem}): "
                                   "resample the label onto the image grid")
    space = data.get("space", "native")
    if space not in SPACES:
        raise DatasetError(f"{path / DATASET_JSON} has space {space!r}: use one of {', '.join(SPACES)}")
    return Dataset(path=path, name=str(data.get("name", path.name)), space=space,
                   skull_stripped=bool(data.get("skull_stripped", False)),
                   labels=dict(data.get("labels", LABELS)), cases=cases,
                   description=str(data.get("description", "")))


def _as_image(image, what: str, case_name: str):
    if isinstance(image, sitk.Image):
        return image
    path = Path(image)
    if not path.is_file():
        raise InputError(f"case {case_name}: {what} file {path} does not exist")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"case {case_name}: cannot read {what} {path}: use a NIfTI, NRRD or MHA file") from exc


def _free_case_name(dataset_dir: Path, wanted: str, taken: set) -> tuple:
    """(name, version): wanted (1), or wanted_v2 (2), wanted_v3 (3), ... : the first with no entry and no file."""
    candidate, version = wanted, 1
    while (candidate in taken or (dataset_dir / image_relpath(candidate)).exists()
           or (dataset_dir / label_relpath(candidate)).exists()):
        version += 1
        candidate = f"{wanted}_v{version}"
    return candidate, version


def voxel_sha256(image: sitk.Image) -> str:
    """SHA-256 of the voxel values (as float32) and the grid size: the same scan saved twice, in another
    format or pixel type, gives the same digest; header-only differences are ignored."""
    import hashlib

    digest = hashlib.sha256(str(tuple(image.GetSize())).encode("ascii"))
    digest.update(np.ascontiguousarray(sitk.GetArrayViewFromImage(image), dtype=np.float32).tobytes())
    return digest.hexdigest()


def write_case_files(dataset_dir, case_name, image, label, prediction=None, overwrite=False) -> dict:
    """Write one case's files atomically; returns its dataset.json entry without metadata."""
    dataset_dir = Path(dataset_dir)
    entry = {"case": case_name, "image": image_relpath(case_name), "label": label_relpath(case_name)}
    atomic_write_image(image, dataset_dir / entry["image"], overwrite=overwrite)
    atomic_write_image(label, dataset_dir / entry["label"], overwrite=overwrite)
    if prediction is not None:
        entry["prediction"] = prediction_relpath(case_name)
        atomic_write_image(prediction, dataset_dir / entry["prediction"], overwrite=overwrite)
    return entry


def add_case(dataset_dir, case_name, image, label, *, prediction=None, metadata=None) -> Case:
    """Add one image/label pair (sitk images or file paths); never overwrites, versions the name instead.

    A folder without dataset.json gets one (space 'native', not skull-stripped). The entry records
    base_case and version (exporting 'x' again gives x_v2 with base_case 'x', version 2) and the
    voxel digest of the image, so that folds keep every version of a case on one side.
    """
    dataset_dir = Path(dataset_dir)
    if (dataset_dir / DATASET_JSON).exists():
        data = read_dataset_json(dataset_dir)
    else:
        data = _new_dataset_json(dataset_dir.name, "native", False, "cases added one by one")
    wanted = safe_name(str(case_name))
    image = _as_image(image, "image", wanted)
    label = _as_image(label, "label", wanted)
    problem = grid_difference(image, label)
    if problem:
        raise InputError(f"case {wanted}: image and label have different geometry ({problem}): "
                         "resample the label onto the image grid first")
    if prediction is not None:
        prediction = _as_image(prediction, "prediction", wanted)
        problem = grid_difference(image, prediction)
        if problem:
            raise InputError(f"case {wanted}: image and prediction have different geometry ({problem})")
    label = sitk.Cast(label, sitk.sitkUInt8)
    taken = {str(e.get("case")) for e in data.get("training", []) if isinstance(e, dict)}
    name, version = _free_case_name(dataset_dir, wanted, taken)
    entry = write_case_files(dataset_dir, name, image, label,
                             None if prediction is None else sitk.Cast(prediction, sitk.sitkUInt8))
    entry.update({"base_case": wanted, "version": version, "image_voxels_sha256": voxel_sha256(image)})
    entry.update(metadata or {})
    data.setdefault("training", []).append(entry)
    write_dataset_json(dataset_dir, data)
    return entry_to_case(dataset_dir, entry, len(data["training"]) - 1)


# ----------------------------------------------------------------------------------------------
# Importers: public tumour datasets brought into the layout (FLAIR + whole-lesion mask as one label)

# Label 1: the published recipe's source task (every FLAIR hyperintensity, tumour included, as one
# class). Label 2: tumour / oedema / cavity as "other pathology", what a three-class model learns.
TUMOUR_LABELS = (LABELS["WMH"], LABELS["other_pathology"])


def _binary_label(label: sitk.Image, value: int) -> sitk.Image:
    """Every tumour sub-label (necrosis, oedema, enhancing) as one FLAIR-hyperintense region = value."""
    return sitk.Cast(label > 0, sitk.sitkUInt8) * value


def _flair_channel(image: sitk.Image, channel: int, path: Path) -> sitk.Image:
    """One channel of a 4D (or vector) image as a 3D float32 image."""
    if image.GetNumberOfComponentsPerPixel() > 1:
        if channel >= image.GetNumberOfComponentsPerPixel():
            raise DatasetError(f"{path} has no channel {channel}: expected the MSD 4-channel brain tumour images")
        image = sitk.VectorIndexSelectionCast(image, channel)
    elif image.GetDimension() == 4:
        size = list(image.GetSize())
        if channel >= size[3]:
            raise DatasetError(f"{path} has no channel {channel}: expected the MSD 4-channel brain tumour images")
        image = sitk.Extract(image, size[:3] + [0], [0, 0, 0, channel])
    return sitk.Cast(image, sitk.sitkFloat32)


def _start_import(output_dir, name, description, resume, tumour_label) -> tuple:
    output_dir = Path(output_dir)
    if tumour_label not in TUMOUR_LABELS:
        raise DatasetError(f"tumour label {tumour_label!r} is not one of {TUMOUR_LABELS}: use 1 (source "
                           "hyperintensity) or 2 (other pathology, for a three-class model)")
    if (output_dir / DATASET_JSON).exists():
        if not resume:
            raise DatasetError(f"{output_dir} already holds a dataset: choose a new output folder, or resume to add the missing cases")
        data = read_dataset_json(output_dir)
        written = data.get("tumour_label", LABELS["WMH"])  # a dataset older than the option wrote label 1
        if written != tumour_label:
            raise DatasetError(f"{output_dir} was imported with the tumour as label {written}: resume with the same "
                               f"label, or import into a new folder for label {tumour_label}")
    else:
        if output_dir.exists() and any(output_dir.iterdir()):
            raise DatasetError(f"{output_dir} is not empty: choose a new or empty output folder")
        create_dataset(output_dir, name, space="native", skull_stripped=True, description=description,
                       extra={"tumour_label": tumour_label})
        data = read_dataset_json(output_dir)
    return output_dir, data


def _import_pairs(pairs, output_dir, name, description, resume, progress, read_image, tumour_label) -> Path:
    output_dir, data = _start_import(output_dir, name, description, resume, tumour_label)
    done = {e.get("case") for e in data["training"]}
    iterator = pairs
    if progress:
        from tqdm import tqdm

        iterator = tqdm(pairs, desc=f"importing {name}", unit="case")
    for case_name, image_path, label_path in iterator:
        if case_name in done:
            continue
        try:
            image = read_image(image_path)
            label = sitk.ReadImage(str(label_path))
        except RuntimeError as exc:
            raise DatasetError(f"case {case_name}: cannot read {image_path.name} or {label_path.name}: "
                               "the download may be incomplete, re-extract it") from exc
        problem = grid_difference(image, label)
        if problem:
            raise DatasetError(f"case {case_name}: FLAIR and segmentation have different geometry ({problem}): "
                               "check the source files")
        entry = write_case_files(output_dir, case_name, image, _binary_label(label, tumour_label), overwrite=resume)
        entry["source_image"] = str(image_path)
        data["training"].append(entry)
        write_dataset_json(output_dir, data)
    return output_dir


def _brats_pairs(brats_dir: Path) -> list:
    flairs = sorted(list(brats_dir.rglob("*_flair.nii.gz")) + list(brats_dir.rglob("*-t2f.nii.gz"))
                    + list(brats_dir.rglob("*_flair.nii")))
    pairs = []
    for flair in flairs:
        if flair.name.startswith("."):
            continue  # macOS resource forks shipped in some archives
        segs = sorted(p for p in flair.parent.iterdir()
                      if not p.name.startswith(".") and p.name.endswith(("_seg.nii.gz", "-seg.nii.gz", "_seg.nii")))
        if segs:
            pairs.append((safe_name(flair.parent.name), flair, segs[0]))
    return pairs


def import_brats(brats_dir, output_dir, *, resume=False, progress=True, tumour_label=1) -> Path:
    """BraTS 2018-2020 (<case>_flair/_seg.nii.gz) or 2023 (<case>-t2f/-seg.nii.gz) folders into the
    layout: FLAIR as the image, every tumour label (> 0) as `tumour_label` (1 or 2, TUMOUR_LABELS).
    Cases without a segmentation (validation sets) are skipped."""
    brats_dir = Path(brats_dir)
    if not brats_dir.is_dir():
        raise DatasetError(f"BraTS folder {brats_dir} does not exist: give the extracted training-data folder")
    pairs = _brats_pairs(brats_dir)
    if not pairs:
        raise DatasetError(f"no BraTS cases (a folder with *_flair.nii.gz and *_seg.nii.gz, or *-t2f.nii.gz and "
                           f"*-seg.nii.gz) found under {brats_dir}: give the extracted training-data folder")
    names = [p[0] for p in pairs]
    if len(set(names)) != len(names):
        raise DatasetError(f"two BraTS case folders under {brats_dir} share a name: import them separately")
    description = f"BraTS FLAIR + whole tumour (label {tumour_label}) from {brats_dir}"
    return _import_pairs(pairs, output_dir, "BraTS", description, resume, progress,
                         lambda p: sitk.Cast(sitk.ReadImage(str(p)), sitk.sitkFloat32), tumour_label)


def import_msd(task_dir, output_dir, *, resume=False, progress=True, tumour_label=1) -> Path:
    """Medical Segmentation Decathlon Task01_BrainTumour into the layout: channel 0 (FLAIR) of the
    4D imagesTr/BRATS_xxx.nii.gz as the image, labelsTr/BRATS_xxx.nii.gz > 0 as `tumour_label` (1 or 2)."""
    task_dir = Path(task_dir)
    images_dir, labels_dir = task_dir / "imagesTr", task_dir / "labelsTr"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise DatasetError(f"{task_dir} has no imagesTr/ and labelsTr/: give the extracted Task01_BrainTumour folder")
    pairs = []
    for image_path in sorted(images_dir.glob("*.nii.gz")):
        if image_path.name.startswith("."):
            continue  # macOS resource forks shipped in the MSD archive
        label_path = labels_dir / image_path.name
        if label_path.is_file():
            pairs.append((safe_name(image_path.name[: -len(".nii.gz")]), image_path, label_path))
    if not pairs:
        raise DatasetError(f"no image/label pairs with the same name in {images_dir} and {labels_dir}: "
                           "give the extracted Task01_BrainTumour folder")
    return _import_pairs(pairs, output_dir, "MSD_Task01_BrainTumour",
                         f"MSD Task01 FLAIR (channel 0) + whole tumour (label {tumour_label}) from {task_dir}",
                         resume, progress, lambda p: _flair_channel(sitk.ReadImage(str(p)), 0, p), tumour_label)
