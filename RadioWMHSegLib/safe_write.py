"""Writes that are never half-done and never replace what a user made.

Every file goes to a temporary name in the same folder, is checked (not empty, and an image is read
back whole), and only then renamed into place, so a crash, a Cancel or a full disk leaves either the
old state or the new file, never a truncated one. A write that fails (full disk, read-only folder)
raises an InputError that names the file and says what to do, and leaves nothing of it behind.
"""

import errno
import gzip
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


class IncompleteWriteError(OSError):
    """The writer reported success but the file on disk is short or unreadable (ITK on a full disk)."""


def write_error(path, exc: OSError) -> InputError:
    """One sentence for a failed write: which file, why, and what to do."""
    name = Path(path).name
    if isinstance(exc, IncompleteWriteError) or exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = "it came out incomplete (is the disk full?)" if isinstance(exc, IncompleteWriteError) \
            else "the disk is full"
        return InputError(f"could not write '{name}': {what}, and nothing of it was kept; free some space, or write "
                          "to another disk, and run again")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(f"could not write '{name}': the folder {Path(path).parent} is not writable; choose another "
                          "output folder")
    return InputError(f"could not write '{name}' ({exc.strerror or exc}), and nothing of it was kept: check the output folder")


def _verify_not_empty(tmp: Path):
    if tmp.stat().st_size == 0:
        raise IncompleteWriteError(errno.EIO, "the file came out empty")


def _write_through_temporary(path: Path, overwrite: bool, suffix: str, write, verify) -> Path:
    """write(tmp) then verify(tmp), then rename tmp to path; on any failure no trace of tmp is left."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_overwrite(path, overwrite)
        tmp = _temporary_sibling(path, suffix)
        write(tmp)
        verify(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        if tmp is not None and tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    return path


def _check_overwrite(path: Path, overwrite: bool):
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists: choose another name or remove it first (nothing was written)")


def _image_suffix(path: Path) -> str:
    name = path.name.lower()
    for ending in (".nii.gz", ".seg.nrrd", ".nrrd", ".nii", ".mha", ".mhd"):
        if name.endswith(ending):
            return ending
    raise InputError(f"cannot tell the image format of '{path.name}': use .nii.gz, .nii, .nrrd or .mha")


def gunzipped_length(path) -> int:
    """Bytes in a gzip file once decompressed, or -1 when the stream ends early or is corrupt."""
    import zlib

    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while True:
                chunk = stream.read(1 << 22)
                if not chunk:
                    return total
                total += len(chunk)
    except (EOFError, OSError, zlib.error):
        return -1


def _gunzipped_size(path: Path) -> int:
    """Bytes of a gzip file once decompressed; IncompleteWriteError when the stream is cut short."""
    total = gunzipped_length(path)
    if total < 0:
        raise IncompleteWriteError(errno.EIO, "the compressed data ends early")
    return total


def _verify_image(tmp: Path, image):
    """The image file at tmp holds all of image's voxels (ITK only prints a warning when a write falls short)."""
    import SimpleITK as sitk

    _verify_not_empty(tmp)
    # A NIfTI file is a header of at least 348 bytes followed by every voxel.
    data_bytes = 348 + image.GetNumberOfPixels() * image.GetNumberOfComponentsPerPixel() * image.GetSizeOfPixelComponent()
    name = tmp.name.lower()
    nifti = name.endswith((".nii", ".nii.gz"))
    if name.endswith(".nii.gz") and _gunzipped_size(tmp) < data_bytes:
        raise IncompleteWriteError(errno.EIO, "the compressed NIfTI holds less data than the image")
    if name.endswith(".nii") and tmp.stat().st_size < data_bytes:
        raise IncompleteWriteError(errno.EIO, "the NIfTI file is shorter than the image")
    try:
        if nifti:  # the data were counted above: the header is enough
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(tmp))
            reader.ReadImageInformation()
            written_size = reader.GetSize()
        else:  # the NRRD and MetaImage readers refuse a file whose data fall short
            written_size = sitk.ReadImage(str(tmp)).GetSize()
    except RuntimeError as exc:
        raise IncompleteWriteError(errno.EIO, "the file cannot be read back") from exc
    if tuple(written_size) != tuple(image.GetSize()):
        raise IncompleteWriteError(errno.EIO, "the file read back has another size")


def atomic_write_image(image, path, overwrite=False, compress=True) -> Path:
    """Write a SimpleITK image atomically and read it back; refuses to replace an existing file unless overwrite."""
    import SimpleITK as sitk

    path = Path(path)
    suffix = _image_suffix(path)

    def write(tmp):
        try:
            sitk.WriteImage(image, str(tmp), compress)
        except RuntimeError as exc:  # ITK's errors are not OSErrors, whatever their cause
            raise IncompleteWriteError(errno.EIO, "ITK could not write it") from exc

    return _write_through_temporary(path, overwrite, suffix, write, lambda tmp: _verify_image(tmp, image))


def atomic_write_text(path, text: str, overwrite=False) -> Path:
    path = Path(path)
    data = text.encode("utf-8")

    def verify(tmp):
        if tmp.stat().st_size != len(data):
            raise IncompleteWriteError(errno.EIO, "the text file came out short")

    return _write_through_temporary(path, overwrite, ".tmp", lambda tmp: tmp.write_bytes(data), verify)


def atomic_write_json(path, data, overwrite=False) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", overwrite)


def atomic_write_csv(path, rows, columns, overwrite=False) -> Path:
    """A CSV table: a header of `columns`, then one line per dict of `rows` (keys not in columns left out,
    missing ones empty). The one CSV writer of the library, so every table reads the same way."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue(), overwrite)


def atomic_write_bytes_with(path, writer, overwrite=False, suffix=".tmp") -> Path:
    """Call writer(tmp_path) and move its result into place: for torch.save, matplotlib, etc."""
    return _write_through_temporary(Path(path), overwrite, suffix, writer, _verify_not_empty)


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
