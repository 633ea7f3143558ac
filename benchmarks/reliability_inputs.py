"""The inputs of bench_reliability.py's cases: the bundled sample on a coarser grid, T1-like and DICOM copies, a NIfTI
without geometry, and a small tmpfs to fill (a full disk, a read-only folder)."""

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SAMPLE = Path(__file__).resolve().parent.parent / "Resources" / "Sample" / "sample_flair.nii.gz"


def head(spacing=2.0) -> sitk.Image:
    """The bundled skull-on sample FLAIR on a coarser grid (same orientation and field of view)."""
    sample = sitk.ReadImage(str(SAMPLE), sitk.sitkFloat32)
    size = [int(round(n * s / spacing)) for n, s in zip(sample.GetSize(), sample.GetSpacing())]
    smooth = sitk.SmoothingRecursiveGaussian(sample, spacing / 2.0)
    return sitk.Resample(smooth, size, sitk.Transform(), sitk.sitkLinear, sample.GetOrigin(), [spacing] * 3,
                         sample.GetDirection(), 0.0, sitk.sitkFloat32)


def write(image, path):
    sitk.WriteImage(image, str(path))
    return path.name


def like(image, array):
    out = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
    out.CopyInformation(image)
    return out


def t1_like(reference) -> sitk.Image:
    """Template tissues with T1 contrast (white matter brightest, CSF dark), skull-stripped, on the head's grid."""
    from RadioWMHSegLib import templates

    brain = templates.mni_brain_mask()
    gm = sitk.GetArrayFromImage(templates.mni_tissue("gm"))
    wm = sitk.GetArrayFromImage(templates.mni_tissue("wm"))
    inside = sitk.GetArrayFromImage(brain) > 0
    array = (200.0 * gm + 300.0 * wm + 60.0 * np.clip(1 - gm - wm, 0, 1)) * inside
    image = like(brain, array)
    centre = np.array(reference.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in reference.GetSize()]))
    brain_centre = np.array(brain.TransformContinuousIndexToPhysicalPoint([98, 116, 80]))
    shift = sitk.TranslationTransform(3, (brain_centre - centre).tolist())
    return sitk.Resample(image, reference, shift, sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def write_dicom_series(image, folder: Path):
    """One file per slice with the tags ITK needs (SimpleITK's documented pattern); right-handed grid."""
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.Cast(sitk.DICOMOrient(image, "LPS"), sitk.sitkInt16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    uid = "1.2.826.0.1.3680043.2.1125.1.77"
    d = image.GetDirection()
    orientation = (d[0], d[3], d[6], d[1], d[4], d[7])
    for k in range(image.GetDepth()):
        piece = image[:, :, k]
        for tag, value in {"0008|0060": "MR", "0008|0016": "1.2.840.10008.5.1.4.1.1.4", "0008|0018": f"{uid}.{k + 1}",
                           "0020|000d": f"{uid}.0", "0020|000e": uid, "0020|0013": str(k + 1),
                           "0020|0037": "\\".join(f"{v:.10f}" for v in orientation),
                           "0020|0032": "\\".join(f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k)))
                           }.items():
            piece.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice_{k:03d}.dcm"))
        writer.Execute(piece)


def nifti_without_geometry(image, path: Path):
    """The voxels alone: pixdim 0 and no qform/sform, as some converters write them."""
    import nibabel as nib

    data = bytearray(nib.Nifti1Image(np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0)), np.eye(4)).to_bytes())
    data[80:92] = np.zeros(3, dtype="<f4").tobytes()   # pixdim[1..3]
    data[252:256] = np.zeros(2, dtype="<i2").tobytes()  # qform_code, sform_code
    path.write_bytes(bytes(data))
    return path.name


@contextmanager
def small_tmpfs(folder: Path, size_bytes: int, read_only=False):
    """A tmpfs of size_bytes mounted on folder (root only); yields False where it cannot be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size_bytes}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=False)


def fill(folder: Path, leave_bytes: int):
    """Fill a small file system until about leave_bytes are free."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    (folder / "filler").write_bytes(b"\0" * max(0, free - leave_bytes))
