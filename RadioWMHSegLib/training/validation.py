"""Validation of a run after each epoch: Dice of P(WMH) >= 0.5 over the whole crop of each held-out case,
with label 2 treated as the loss treats it and label 3 (unscored) left out."""

import numpy as np

from ..choices import DEFAULT_THRESHOLD
from ..datasets import UNSCORED_LABEL
from ..metrics import dice


def validation_dice(net, validation_arrays, device, precision, label2) -> float:
    """Mean Dice over the held-out (image, label) arrays; NaN when there are none."""
    from ..inference import predict_probability

    scores = []
    for image, label in validation_arrays:
        probability = predict_probability(net, image.astype(np.float32), device=device, precision=precision)
        pred = probability >= DEFAULT_THRESHOLD
        keep = label != UNSCORED_LABEL
        if label2 == "ignore":
            keep &= label != 2
        ref = (label > 0) & keep if label2 == "foreground" else label == 1
        pred, ref = pred & keep, ref & keep
        scores.append(dice(pred, ref))
    return float(np.mean(scores)) if scores else float("nan")
