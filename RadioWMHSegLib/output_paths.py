"""Output paths checked before any work (endings, clashes, existing files, writable folders) and reported after writes.

A run refuses at once, in one sentence, an output it could not write or that would destroy
something (an input, another output, a user's file), and when a write fails it says which
outputs exist and which do not. segment.py and cohort.py use it.
"""

import os
from pathlib import Path

import SimpleITK as sitk

from .errors import InputError
from .geometry import grid_difference

# Output roles: the command-line flag that names each (for messages), the endings it may have, and an
# example file name.
OUTPUT_KINDS = {
    "output_mask": ("-o", (".nii.gz", ".nii", ".nrrd", ".mha"), "wmh.nii.gz"),
    "prob": ("--prob", (".nii.gz", ".nii", ".nrrd", ".mha"), "wmh_prob.nii.gz"),
    "brain_mask": ("--brain-mask", (".nii.gz", ".nii", ".nrrd", ".mha"), "brainmask.nii.gz"),
    "uncertainty": ("--uncertainty", (".nii.gz", ".nii", ".nrrd", ".mha"), "wmh_uncertainty.nii.gz"),
    "pathology_mask": ("--pathology-mask", (".nii.gz", ".nii", ".nrrd", ".mha"), "other_pathology.nii.gz"),
    "stats": ("--stats", (".json", ".csv"), "stats.json"),
    "png": ("--png", (".png",), "overlay.png"),
}


def check_writable_folder(folder, what: str):
    """Refuse, before any work, a folder that cannot be created or written (the outputs would be lost)."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{what} cannot be written under {folder}: {existing} is a file, not a folder; choose another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"the folder {existing} is not writable, so {what} cannot be written there: choose another "
                         "output folder")


def check_output_paths(outputs: dict, inputs=(), overwrite=False):
    """Refuse, before any work, outputs that could not be written or would destroy something.

    outputs: {role: path} with the roles of OUTPUT_KINDS. Each must have its format's ending, not be a
    folder, not be an input (nor lie inside an input DICOM folder), differ from the others, not exist
    unless overwrite, and have a writable folder.
    """
    sources = [(Path(p), Path(p).resolve()) for p in inputs if p]
    seen = {}
    for role, path in outputs.items():
        path = Path(path)
        flag, endings, example = OUTPUT_KINDS[role]
        if path.is_dir():
            raise InputError(f"{flag} {path} is a folder: give a file name, such as {path / example}")
        if not path.name.lower().endswith(endings):
            raise InputError(f"{flag} '{path.name}' does not end in {' or '.join(endings)}: give a file name such as "
                             f"{example}")
        where = path.resolve()
        for given, source in sources:
            if where == source:
                raise InputError(f"{flag} {path} is an input of this run and would be replaced: give the output another name")
            if source.is_dir() and source in where.parents:
                raise InputError(f"{flag} {path} lies inside the input DICOM folder {given}: write the outputs to "
                                 "another folder")
        if where in seen:
            raise InputError(f"{seen[where]} and {flag} name the same file {path}: give each output its own name")
        seen[where] = flag
        if path.exists() and not overwrite:
            raise InputError(f"{path} already exists: choose another name, remove it, or pass --overwrite")
        check_writable_folder(path.parent, f"{flag} {path.name}")


def check_same_grid(reference: sitk.Image, image: sitk.Image, reference_path):
    """Refuse a reference mask that is not on the input's voxel grid (its metrics would be meaningless)."""
    problem = grid_difference(reference, image)
    if problem:
        raise InputError(f"the reference '{Path(str(reference_path)).name}' is not on the FLAIR's voxel grid "
                         f"({problem}): give the reference mask made on this FLAIR")


def _file_state(path: Path):
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size


def _outputs_report(before: dict, outputs: dict) -> str:
    """'written: a, b; not written: c' from the files' state before the writes began and now."""
    folders = {p.parent for p in outputs.values()}
    shown = {role: (p.name if len(folders) == 1 else str(p)) for role, p in outputs.items()}
    written = [role for role, p in outputs.items() if _file_state(p) is not None and _file_state(p) != before[role]]
    listed = (f"written: {', '.join(shown[r] for r in written) or 'none'}; "
              f"not written: {', '.join(shown[r] for r in outputs if r not in written) or 'none'}")
    if len(folders) != 1:
        return listed
    folder = folders.pop()
    return f"in {'the current folder' if str(folder) in ('', '.') else folder}, {listed}"
