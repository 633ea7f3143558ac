"""The training loss: soft Dice of the lesion channels plus cross-entropy, with label 2 (other pathology)
counted as WMH, as background, left out, or learnt as a third class (choices.LABEL2_MODES); label 3 (unscored)
is always left out."""


def n_classes(label2) -> int:
    """Output channels of the network for a label-2 mode: 3 (background, WMH, other pathology) for 'class'."""
    return 3 if label2 == "class" else 2


class DiceCELoss:
    """Soft Dice of the non-background channels (over the whole batch) + cross-entropy, both masked by `valid`.

    With nothing ignored this is MONAI's DiceCELoss(softmax, one-hot, no background in the Dice,
    batch Dice); voxels of label 2 under label2='ignore' count in neither term. With 3 output
    channels (label2='class') the Dice is the mean of the WMH and other-pathology Dice losses and
    the cross-entropy is over the 3 classes.
    """

    def __init__(self):
        from monai.losses import DiceLoss

        self.dice = DiceLoss(include_background=False, softmax=False, batch=True)

    def __call__(self, logits, target, valid):
        import torch
        import torch.nn.functional as F

        logits = logits.float()
        probabilities = torch.softmax(logits, dim=1)
        one_hot = F.one_hot(target[:, 0], num_classes=logits.shape[1]).movedim(-1, 1).float()
        dice = self.dice(probabilities * valid, one_hot * valid)
        cross_entropy = F.cross_entropy(logits, target[:, 0], reduction="none")
        cross_entropy = (cross_entropy * valid[:, 0]).sum() / valid.sum().clamp_min(1.0)
        return dice + cross_entropy


def targets_for(label, label2):
    """(class target long (B,1,...), valid-voxel mask float (B,1,...)) from 0/1/2/3 labels; label 3 (unscored,
    datasets.UNSCORED_LABEL) is left out of both loss terms whatever the label-2 mode."""
    from ..datasets import UNSCORED_LABEL

    unscored = label == UNSCORED_LABEL
    label = label.masked_fill(unscored, 0)
    if label2 == "class":
        target = label.clamp(0, 2)
    elif label2 == "foreground":
        target = label > 0
    else:
        target = label == 1
    valid = ~unscored
    if label2 == "ignore":
        valid &= label != 2
    return target.long(), valid.float()
