"""Every choice and default a user meets, in one place: the command line, the Slicer panel and the library read them here.

This module imports nothing, so `radiowmhseg --help` and the Slicer panel (which loads before torch is
installed) take their lists from it at no cost. The module that owns each concept checks values
against these lists and says what to choose (device.resolve_device, precision.resolve_precision,
preprocessing/skull_strip.choose_method, training/transfer.check_strategy, training/config.check_config).
"""

# ---------------------------------------------------------------- segmentation

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # auto: CUDA where there is one (device.py)
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 where this machine computes it faster (precision.py)
# Brain extraction; preprocessing/skull_strip.py says what each does (auto: HD-BET).
SKULL_STRIP_METHODS = ("auto", "hd-bet", "template")
DEFAULT_SKULL_STRIP_METHOD = "auto"
# Segmentation picks its arithmetic by the machine: bf16 autocast only where precision.py measures it faster
# (native bf16), else fp32. With the bundled weights bf16 moved Dice against truth by 0.0016 at most over 20
# cases and ran the network 2.2x faster on an AVX-512 BF16 CPU (docs/precision_validation.json).
DEFAULT_SEGMENT_PRECISION = "auto"
DEFAULT_THRESHOLD = 0.5
# Connected components smaller than this are dropped: isolated specks are what costs lesion F1 and HD95
# on real scans. 10 mm3 is the median of the sizes chosen on validation cases in the five real-case
# folds (30, 10, 30, 10, 0; docs/experiment.md); the threshold chosen there did not settle (0.4-0.7).
DEFAULT_MIN_LESION_MM3 = 10.0
# Test-time flips (4 network passes) by default: chosen on validation cases in 4 of the 5 real-case folds,
# and the fold-wise choice beat the old defaults on every held-out case (docs/experiment.md).
DEFAULT_TTA = True
MAX_MIN_LESION_MM3 = 1000.0
# 3-class models: around each other-pathology region whose mask is >= 5 mL (a tumour, its oedema, a cavity),
# WMH is not called within 4 mm of the mask, nor where P(other pathology) >= 0.3 in the region's connected
# surroundings. The network's mask stops short of the tumour's true border, and the rim it leaves is what it
# called WMH; smaller specks of the mask on WMH-only scans sit inside WMH and get no rim. Chosen on validation
# cases (docs/model.md, "WMH kept off the tumour's rim"; benchmarks/choose_pathology_rim.py).
WMH_EXCLUSION_PATHOLOGY_P = 0.3
WMH_EXCLUSION_MARGIN_MM = 4.0
WMH_EXCLUSION_MIN_REGION_ML = 5.0
# Per-case uncertainty scores (uncertainty.py, docs/uncertainty.md); `radiowmhseg rank --by` picks one.
UNCERTAINTY_SCORES = ("uncertain_volume_ml", "uncertain_fraction", "mean_in_wmh")
DEFAULT_UNCERTAINTY_SCORE = "uncertain_volume_ml"

# Image files read as FLAIRs or masks, by name ending (lower case; '.nii.gz' before '.nii').
IMAGE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
# Masks may also be Slicer segmentations; '.seg.nrrd' comes first so that it is cut off whole.
MASK_ENDINGS = (".seg.nrrd",) + IMAGE_ENDINGS

# ---------------------------------------------------------------- training

# See training/transfer.py for what each does.
STRATEGIES = ("all", "decoder", "last", "scratch", "mixed")
DEFAULT_STRATEGY = "all"
# Strategies that start from the source model's weights (and so name it as their parent).
FROM_SOURCE_WEIGHTS = ("all", "decoder", "last")
# Learning rates used when none is given: small steps from a trained model, larger ones where
# layers start from random weights. 3e-4 for 'all' is the rate of the real-case leave-one-out
# (docs/experiment.md: held-out Dice 0.517 -> 0.632 with four cases in 100 steps).
STRATEGY_LR = {"all": 3e-4, "decoder": 3e-4, "last": 1e-3, "scratch": 1e-3, "mixed": 1e-3}
# Label 2 (other pathology) as lesion, as background, left out of the loss, or learnt as its own class
# (a 3-class network: background, WMH, other pathology; training/loss.py).
LABEL2_MODES = ("foreground", "background", "ignore", "class")
LR_SCHEDULES = ("poly", "cosine")
# 'crop': MNI-space images resampled onto the network's crop box; 'as_is': kept on their own grid.
GRIDS = ("crop", "as_is")

# The recipe of a pre-training run (training/config.TrainConfig and `radiowmhseg pretrain`).
TRAINING_DEFAULTS = {
    "epochs": 50, "steps_per_epoch": 250, "batch_size": 2, "patch_size": (64, 64, 64), "lr": 1e-3,
    "lr_schedule": "poly", "val_cases": 2, "seed": 0, "precision": "auto", "label2": "background", "grid": "crop",
    "patience": None,  # epochs without a better validation Dice before training ends (None: every epoch runs)
}
# What fine-tuning changes of it (training/finetune.finetune, `radiowmhseg finetune`, the Slicer panel).
# At most 400 steps, ended earlier when the validation case stops improving: on the real target cases
# (docs/experiment.md) whole-network fine-tuning gained little from 50 to 100 steps, and 400 steps take
# about 8 minutes on 2 CPU cores, so a clinician's computer can afford it.
# label2 None: as the source model, 'class' for a 3-class one (so fine-tuning a 3-class model keeps its
# tumour/oedema output), else TRAINING_DEFAULTS' (training/finetune.source_label2).
FINETUNE_DEFAULTS = dict(TRAINING_DEFAULTS, epochs=8, steps_per_epoch=50, val_cases=1, patience=2, label2=None)
# A 3-class model fine-tuned on cases that show no tumour learns that label 2 never occurs, and forgets it
# (docs/training.md). Unless source datasets are given, fine-tuning it also trains on this many synthetic
# treated gliomas (made once into RUN_DIR/pathology_replay, from this seed; about 3 s a case).
PATHOLOGY_REPLAY = {"cases": 8, "seed": 7300}
# The published experiment (training/experiment.run_experiment, `radiowmhseg experiment`).
EXPERIMENT_DEFAULTS = {"n_train": (5, 9), "n_test": 11}

# ---------------------------------------------------------------- synthetic data

# Lesion patterns of synth/lesions.py; `radiowmhseg synth --phenotype mixed` draws one per case.
PHENOTYPES = ("radiation", "ms", "glioma")
