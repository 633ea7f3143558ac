"""Transfer-learning strategies (Kaur et al., MICCAI DART 2019; Coudert et al.).

- 'all':     the whole network fine-tuned from the source model.
- 'decoder': the encoder (contracting path) frozen, the decoder fine-tuned.
- 'last':    the last three layers re-initialised and trained alone; everything else frozen.
- 'scratch': random initialisation, trained on the target cases only.
- 'mixed':   random initialisation, trained on source and target cases together.

Frozen parts get requires_grad=False and stay in eval mode during training (no dropout in them),
so their weights are bit-identical after fine-tuning. The source model's folder is only read.
This module is below the trainer (which applies a strategy); `finetune()` is in finetune.py, above it.
"""

from pathlib import Path

from .. import model_io
from ..choices import FROM_SOURCE_WEIGHTS, STRATEGIES
from ..errors import InputError


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
    # The folder's name only: the card travels to machines where this machine's paths mean nothing.
    return {"name": card.get("name"), "path": Path(model_dir).resolve().name,
            "weights_sha256": card.get("weights_sha256")}


def initial_network(strategy, net_config, source_model=None, dropout=None, out_channels=None):
    """The network a run starts from, and its parent record (None for random initialisation).

    The architecture is the source model's when one is given (so every strategy of an experiment
    trains the same network), otherwise `net_config`. Call torch.manual_seed first: random
    initialisation is part of the recipe. out_channels: the classes to output (3 for label2
    'class'); a source model with other outputs lends every weight but those of the new output
    channels, which start random (a 2-class model's background and WMH channels are kept).
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
    if out_channels is not None:
        config["out_channels"] = int(out_channels)
    net = model_io.build_network({"class": "AttentionVNet", "config": config})
    if state is not None:
        for key, fresh in net.state_dict().items():
            if key.startswith("output.") and state[key].shape != fresh.shape:  # other classes than the source's
                n = min(len(fresh), len(state[key]))
                state[key] = torch.cat([state[key][:n], fresh[n:].clone()])
        with torch.no_grad():
            net.load_state_dict(state, strict=True)
    return net, parent

