"""Validation of a run after each epoch: Dice of P(WMH) >= 0.5 over the whole crop of each held-out case,
with label 2 treated as the loss treats it."""

import numpy as np

from ..choices import DEFAULT_THRESHOLD
from ..metrics import dice


def validation_dice(net, validation_arrays, device, precision, label2) -> float:
    """Mean Dice over the held-out (image, label) arrays; NaN when there are none."""
    from ..inference import predict_probability

    scores = []
    for image, label in validation_arrays:
        probability = predict_probability(net, image.astype(np.float32), device=device, precision=precision)
        pred = probability >= DEFAULT_THRESHOLD
        ref = label > 0 if label2 == "foreground" else label == 1
        if label2 == "ignore":
            keep = label != 2
            pred, ref = pred & keep, ref & keep
        scores.append(dice(pred, ref))
    return float(np.mean(scores)) if scores else float("nan")
