"""Writes that are never half-done and never replace what a user made.

Every file goes to a temporary name in the same folder and is renamed into place, so a crash or
a Cancel leaves either the old state or the new file, never a truncated one.
"""

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import InputError


def _temporary_sibling(path: Path, suffix: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a normal new file would get.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def _check_overwrite(path: Path, overwrite: bool):
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists: choose another name or remove it first (nothing was written)")


def _image_suffix(path: Path) -> str:
    name = path.name.lower()
    for ending in (".nii.gz", ".seg.nrrd", ".nrrd", ".nii", ".mha", ".mhd"):
        if name.endswith(ending):
            return ending
    raise InputError(f"cannot tell the image format of '{path.name}': use .nii.gz, .nii, .nrrd or .mha")


def atomic_write_image(image, path, overwrite=False, compress=True) -> Path:
    """Write a SimpleITK image atomically; refuses to replace an existing file unless overwrite."""
    import SimpleITK as sitk

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_overwrite(path, overwrite)
    tmp = _temporary_sibling(path, _image_suffix(path))
    try:
        sitk.WriteImage(image, str(tmp), compress)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path, text: str, overwrite=False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_overwrite(path, overwrite)
    tmp = _temporary_sibling(path, ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_json(path, data, overwrite=False) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", overwrite)


def atomic_write_bytes_with(path, writer, overwrite=False, suffix=".tmp") -> Path:
    """Call writer(tmp_path) and move its result into place: for torch.save, matplotlib, etc."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _check_overwrite(path, overwrite)
    tmp = _temporary_sibling(path, suffix)
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def new_version_path(parent, name: str) -> Path:
    """First free path among parent/name, parent/name_v2, parent/name_v3, ... (never an existing one)."""
    parent = Path(parent)
    candidate = parent / name
    version = 1
    while candidate.exists():
        version += 1
        candidate = parent / f"{name}_v{version}"
    return candidate


def publish_directory(staging: Path, parent, name: str) -> Path:
    """Move a fully written staging folder to a new versioned name under parent, atomically."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        target = new_version_path(parent, name)
        try:
            os.rename(staging, target)  # fails if target appeared meanwhile: then take the next name
            return target
        except OSError:
            if not target.exists():
                raise


def staging_directory(parent) -> Path:
    """A hidden temporary folder under parent, to be filled and then published."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))


def remove_staging(staging: Path):
    shutil.rmtree(staging, ignore_errors=True)


def safe_name(text: str) -> str:
    """A file-name-safe version of a case or model name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned or "case"
