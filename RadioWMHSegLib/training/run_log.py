"""The human-readable record of a training run: a CSV of epochs and a PNG of the curves.

Both are rewritten whole from the run's history after each epoch (atomically), so they always
match the last checkpoint, including after a resume.
"""

import math

from .. import safe_write

COLUMNS = ("epoch", "step", "loss", "val_dice", "lr", "seconds")


def write_csv(path, history):
    safe_write.atomic_write_csv(path, history, COLUMNS, overwrite=True)


def write_curves_png(path, history, title="training"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    losses = [row["loss"] for row in history]
    dices = [row["val_dice"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, losses, marker=".")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (Dice + CE)")
    left.grid(alpha=0.3)
    if any(d is not None and not math.isnan(d) for d in dices):
        right.plot(epochs, dices, marker=".", color="tab:green")
    right.set_xlabel("epoch")
    right.set_ylabel("validation Dice (WMH)")
    right.set_ylim(0, 1)
    right.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()

    def write(tmp):
        figure.savefig(tmp, format="png", dpi=90)

    try:
        safe_write.atomic_write_bytes_with(path, write, overwrite=True, suffix=".png")
    finally:
        plt.close(figure)
