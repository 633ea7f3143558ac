"""Figure of synthetic cases (one per phenotype) beside a real FLAIR, to judge the generator by eye."""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .. import templates
from ..safe_write import atomic_write_bytes_with
from .generator import generate_case

_LABEL_COLOURS = {1: "red", 2: "deepskyblue"}


def _richest_slice(label: np.ndarray, axis: int, fallback: int) -> int:
    counts = label.astype(bool).sum(axis=tuple(a for a in range(3) if a != axis))
    return int(np.argmax(counts)) if counts.max() > 0 else fallback


def _panel(ax, image, label, title):
    ax.imshow(image, cmap="gray", origin="lower", vmin=0, vmax=np.percentile(image[image > 0], 99.5) if np.any(image > 0) else 1)
    for value, colour in _LABEL_COLOURS.items():
        if np.any(label == value):
            ax.contour(label == value, [0.5], colors=colour, linewidths=0.7)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def synthetic_vs_real_figure(out_png, real_flair=None, real_label=None, seeds=(1, 2, 3), overwrite=False) -> Path:
    """Rows: a synthetic radiation, MS and glioma case (seeds in that order), then the real case if
    given (resampled by physical coordinates onto the crop grid); columns: axial and coronal slice
    through the most lesion. Red: WMH (label 1); blue: other pathology (label 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for seed, phenotype in zip(seeds, ("radiation", "ms", "glioma")):
        image, label, metadata = generate_case(seed, phenotype)
        thick = metadata["acquisition"]["thick_slices"]
        note = f", {thick['thickness_mm']} mm {thick['axis']} slices" if thick else ""
        rows.append((f"synthetic {phenotype} (seed {seed}{note})", sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(label)))
    if real_flair is not None:
        flair = templates.to_crop_grid(sitk.ReadImage(str(real_flair), sitk.sitkFloat32))
        label = (templates.to_crop_grid(sitk.ReadImage(str(real_label)), sitk.sitkNearestNeighbor)
                 if real_label is not None else sitk.Image(flair.GetSize(), sitk.sitkUInt8))
        rows.append((f"real: {Path(real_flair).parent.name}", sitk.GetArrayFromImage(flair),
                     sitk.GetArrayFromImage(label).astype(np.uint8)))

    fig, axes = plt.subplots(len(rows), 2, figsize=(6.4, 3.3 * len(rows)))
    for (title, image, label), row_axes in zip(rows, np.atleast_2d(axes)):
        z = _richest_slice(label, 0, image.shape[0] // 2 + 5)
        y = _richest_slice(label, 1, image.shape[1] // 2)
        _panel(row_axes[0], image[z], label[z], f"{title}\naxial")
        _panel(row_axes[1], image[:, y], label[:, y], "coronal")
    fig.tight_layout()
    out_png = Path(out_png)
    atomic_write_bytes_with(out_png, lambda tmp: fig.savefig(tmp, dpi=90, format="png"), overwrite=overwrite, suffix=".png")
    plt.close(fig)
    return out_png
