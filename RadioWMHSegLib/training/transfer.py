"""Transfer-learning strategies (Kaur et al., MICCAI DART 2019; Coudert et al.).

- 'all':     the whole network fine-tuned from the source model.
- 'decoder': the encoder (contracting path) frozen, the decoder fine-tuned.
- 'last':    the last three layers re-initialised and trained alone; everything else frozen.
- 'scratch': random initialisation, trained on the target cases only.
- 'mixed':   random initialisation, trained on source and target cases together.

Frozen parts get requires_grad=False and stay in eval mode during training (no dropout in them),
so their weights are bit-identical after fine-tuning. The source model's folder is only read.
"""

from pathlib import Path

from .. import model_io
from ..errors import InputError

STRATEGIES = ("all", "decoder", "last", "scratch", "mixed")
# Strategies that start from the source model's weights (and so name it as their parent).
FROM_SOURCE_WEIGHTS = ("all", "decoder", "last")
# Learning rates used when none is given: small steps from a trained model, larger ones where
# layers start from random weights.
DEFAULT_LR = {"all": 1e-4, "decoder": 1e-4, "last": 1e-3, "scratch": 1e-3, "mixed": 1e-3}


def check_strategy(strategy):
    if strategy not in STRATEGIES:
        raise InputError(f"unknown fine-tuning strategy '{strategy}': choose one of {', '.join(STRATEGIES)}")


def reset_parameters(modules):
    for module in modules:
        for layer in module.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()


def _outside(net, kept) -> list:
    """The largest sub-modules of net that contain none of the `kept` modules."""
    kept_ids = {id(m) for module in kept for m in module.modules()}
    outside = []

    def visit(module):
        for child in module.children():
            if id(child) in kept_ids:
                continue
            if kept_ids & {id(m) for m in child.modules()}:
                visit(child)
            else:
                outside.append(child)

    visit(net)
    return outside


def frozen_modules(net, strategy) -> list:
    """The sub-modules a strategy keeps fixed."""
    check_strategy(strategy)
    if strategy == "decoder":
        return list(net.encoder_modules())
    if strategy == "last":
        return _outside(net, net.last_layers())
    return []


def apply_strategy(net, strategy) -> list:
    """Re-initialise / freeze `net` in place for `strategy`; returns the frozen modules."""
    check_strategy(strategy)
    if strategy == "last":
        reset_parameters(net.last_layers())
    frozen = frozen_modules(net, strategy)
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    return frozen


def set_train_mode(net, frozen):
    """net.train(), but frozen parts in eval mode (dropout and norm statistics untouched)."""
    net.train()
    for module in frozen:
        module.eval()


def source_parent(model_dir) -> dict:
    card = model_io.read_card(model_dir)
    return {"name": card.get("name"), "path": str(Path(model_dir).resolve()),
            "weights_sha256": card.get("weights_sha256")}


def initial_network(strategy, net_config, source_model=None, dropout=None):
    """The network a run starts from, and its parent record (None for random initialisation).

    The architecture is the source model's when one is given (so every strategy of an experiment
    trains the same network), otherwise `net_config`. Call torch.manual_seed first: random
    initialisation is part of the recipe.
    """
    import torch

    check_strategy(strategy)
    parent = None
    config = dict(net_config or {})
    state = None
    if source_model is not None:
        loaded = model_io.load_model(source_model, device="cpu")
        config = dict(loaded.card["architecture"]["config"])
        if strategy in FROM_SOURCE_WEIGHTS:
            state = {k: v.clone() for k, v in loaded.net.state_dict().items()}
            parent = source_parent(loaded.path)
    elif strategy in FROM_SOURCE_WEIGHTS:
        raise InputError(f"strategy '{strategy}' fine-tunes a trained model: give the source model (--from)")
    if dropout is not None:
        config["dropout"] = float(dropout)
    net = model_io.build_network({"class": "AttentionVNet", "config": config})
    if state is not None:
        with torch.no_grad():
            net.load_state_dict(state, strict=True)
    return net, parent


def finetune(target_dataset, run_dir, source_model=None, strategy="all", source_datasets=(), models_dir=None,
             model_name=None, lr=None, progress=None, cancel=None, **options):
    """Fine-tune a model on a target dataset with one strategy; returns the trainer's TrainResult.

    source_model None means the bundled model. The result is a NEW model folder under models_dir
    (default: the user's model folder, model_io.user_models_dir()) whose card names the source as
    its parent; the source folder is only read. 'mixed' needs source_datasets; 'scratch' ignores
    the source weights but keeps its architecture.
    """
    from .trainer import TrainConfig, train

    check_strategy(strategy)
    source = Path(source_model) if source_model is not None else model_io.bundled_model_dir()
    model_io.read_card(source)  # a clear error now rather than after preprocessing
    if options.get("fold") is not None:
        from ..dataset_split import fold_case_names
        from ..datasets import load_dataset

        fold_case_names(load_dataset(target_dataset, check_geometry=False), options["fold"])  # likewise
    if strategy == "mixed" and not source_datasets:
        raise InputError("strategy 'mixed' trains on source and target cases together: give the source dataset(s)")
    config = TrainConfig(
        datasets=[str(target_dataset)], run_dir=str(run_dir),
        source_datasets=[str(p) for p in source_datasets] if strategy == "mixed" else [],
        stage="finetune", strategy=strategy, source_model=str(source),
        lr=DEFAULT_LR[strategy] if lr is None else float(lr),
        models_dir=str(models_dir) if models_dir is not None else str(model_io.user_models_dir()),
        model_name=model_name or f"{model_io.read_card(source).get('name', 'model')}-{strategy}",
        **options,
    )
    return train(config, progress=progress, cancel=cancel)
