"""Training stage: preprocessed cache, patch sampling, augmentation, trainer (checkpoints, resume,
DDP), transfer strategies and the published experiment. Import the submodules directly; they
pull in torch and MONAI, which the rest of the library does not need at import time:

    from RadioWMHSegLib.training.trainer import TrainConfig, train, pretrain
    from RadioWMHSegLib.training.finetune import finetune
    from RadioWMHSegLib.training.experiment import run_experiment
"""
