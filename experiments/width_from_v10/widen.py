"""Version 10 at twice its width, computing the same function (Net2Net widening, Chen et al., ICLR 2016).

    python experiments/width_from_v10/widen.py OUT_PARENT [--start copies|fresh] [--noise 0.01]

`--start copies` (RULE.md's W): every channel of every hidden layer is doubled: new channel j copies old channel j
mod C, and each layer that reads a doubled channel reads both copies at half weight, so the 2x network
(16-32-64-128-256) gives version 10's output exactly. Instance normalisation (no affine parameters) normalises both
copies alike, the residual stages' identity skips stay identities, and PReLU has one parameter per layer. The
decoder's first convolution and its skip read [gated skip, upsampled] concatenated: there the copies are mapped
half by half. Exact copies would get equal gradients for ever, so a small seeded noise (`--noise` x each layer's
weight std) breaks the symmetry; the script prints how far that moves the output. In W the copies never moved apart
at lr 5e-5 (RULE.md), so:
`--start fresh`: the old channels keep version 10's weights and the new ones start from the network's own random
initialisation (seeded), with every weight by which an old channel, or the output, reads a new one set to zero. The
output is version 10's exactly, the new channels are different from the start, and the zero weights get gradients
at once (function-preserving like the copies, without their symmetry).
Experiment scaffolding (experiments/width_from_v10/RULE.md).
"""

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from RadioWMHSegLib.model_io import build_network, load_model, save_model  # noqa: E402


def channel_map(old: int, new: int, concatenated: bool) -> torch.Tensor:
    """Old channel of each new channel: j mod old, or, for [a, b] concatenated, half by half."""
    if new == old:
        return torch.arange(old)
    if not concatenated:
        return torch.arange(new) % old
    half_old, half_new = old // 2, new // 2
    j = torch.arange(new)
    return torch.where(j < half_new, j % half_old, half_old + (j - half_new) % half_old)


def origin(old: int, new: int, concatenated: bool) -> torch.Tensor:
    """Old channel at each new position for --start fresh, -1 for a new channel: the old channels come first
    (in each half of a concatenation)."""
    j = torch.arange(new)
    if new == old:
        return j
    if not concatenated:
        return torch.where(j < old, j, -1)
    half_old, half_new = old // 2, new // 2
    within = torch.where(j < half_new, j, j - half_new)
    return torch.where(within < half_old, within + (j >= half_new) * half_old, -1)


def layer_axes(key: str):
    """(output axis, input axis, reads a concatenation) of a weight of the network: ConvTranspose3d weights are
    (in, out, k...); the decoder's first convolution and its skip read [gated skip, upsampled] concatenated."""
    out_axis, in_axis = (1, 0) if key.startswith("up.") else (0, 1)
    return out_axis, in_axis, key.startswith("decoder.") and (".convs.0." in key or ".skip." in key)


def _layers(old_state: dict, new_state: dict, bias, weight) -> dict:
    """The widened state: layers of unchanged shape copied, a widened bias given by bias(source, target) and a
    widened weight by weight(source, target, out_axis, in_axis, concatenated)."""
    widened = {}
    for key, target in new_state.items():
        source = old_state[key]
        if source.shape == target.shape:
            widened[key] = source.clone()
        elif source.dim() == 1:  # a bias: one per output channel
            widened[key] = bias(source, target)
        else:
            widened[key] = weight(source, target, *layer_axes(key))
    return widened


def _fresh_bias(source, target):
    tensor = target.clone()
    tensor[:source.shape[0]] = source  # the old channels' own; the new ones as initialised
    return tensor


def _fresh_weight(source, target, out_axis, in_axis, concatenated):
    tensor = target.clone()
    out_from = origin(source.shape[out_axis], target.shape[out_axis], False)
    in_from = origin(source.shape[in_axis], target.shape[in_axis], concatenated)
    old_out, old_in = torch.nonzero(out_from >= 0).flatten(), torch.nonzero(in_from >= 0).flatten()
    new_in = torch.nonzero(in_from < 0).flatten()
    # old outputs read old inputs as before and new inputs not at all
    block = source.index_select(out_axis, out_from[old_out]).index_select(in_axis, in_from[old_in])
    view = tensor.index_select(out_axis, old_out)
    view.index_copy_(in_axis, old_in, block)
    view.index_fill_(in_axis, new_in, 0.0)
    tensor.index_copy_(out_axis, old_out, view)
    return tensor


def _copied_bias(source, target):
    return source[channel_map(source.shape[0], target.shape[0], False)]


def _copied_weight(source, target, out_axis, in_axis, concatenated):
    out_map = channel_map(source.shape[out_axis], target.shape[out_axis], False)
    in_map = channel_map(source.shape[in_axis], target.shape[in_axis], concatenated)
    tensor = source.index_select(out_axis, out_map).index_select(in_axis, in_map)
    copies = torch.bincount(in_map, minlength=source.shape[in_axis]).to(tensor.dtype)[in_map]
    shape = [1] * tensor.dim()
    shape[in_axis] = -1
    return tensor / copies.reshape(shape)  # each copy read at half weight


def fresh_state(old_state: dict, new_state: dict) -> dict:
    """--start fresh: old weights in place, new channels as initialised, old readers of new channels at zero."""
    return _layers(old_state, new_state, _fresh_bias, _fresh_weight)


def widen_state(old_state: dict, new_state: dict) -> dict:
    """--start copies: every channel copied, every reader of a copied channel halved."""
    return _layers(old_state, new_state, _copied_bias, _copied_weight)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_parent")
    parser.add_argument("--model", default=None, help="model folder to widen (default: the bundled one)")
    parser.add_argument("--start", choices=("copies", "fresh"), default="copies")
    parser.add_argument("--noise", type=float, default=0.01, help="--start copies only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="radiowmhseg-attention-vnet-v10-wide")
    args = parser.parse_args(argv)

    old = load_model(args.model)
    architecture = copy.deepcopy(old.card["architecture"])
    architecture["config"]["channels"] = [2 * c for c in architecture["config"]["channels"]]
    torch.manual_seed(args.seed)  # the new channels' initialisation (fresh) or the noise (copies)
    net = build_network(architecture)
    widen = fresh_state if args.start == "fresh" else widen_state
    net.load_state_dict(widen(old.net.state_dict(), net.state_dict()), strict=True)
    net.eval()

    if args.start == "copies":
        torch.manual_seed(args.seed)  # the test input and noise W was made with (seeded after the network)
    x = torch.randn(1, 1, 64, 64, 64)
    with torch.no_grad():
        reference = torch.softmax(old.net(x), 1)
        exact = (torch.softmax(net(x), 1) - reference).abs().max().item()
        for key, tensor in net.state_dict().items():
            if args.start == "copies" and tensor.dim() > 1 and tensor.shape != old.net.state_dict()[key].shape:
                tensor.add_(torch.randn_like(tensor) * args.noise * tensor.std())
        noisy = (torch.softmax(net(x), 1) - reference).abs().max().item()
    noise_said = f", with the noise {noisy:.2e}" if args.start == "copies" else ""
    print(f"largest change of a probability on a random 64^3 input: widened {exact:.2e}{noise_said}")
    if exact > 1e-4:
        raise SystemExit("the widened network does not compute version 10's function: not saved")

    card = copy.deepcopy(old.card)
    noise = args.noise if args.start == "copies" else 0
    card.update(name=args.name, architecture=architecture,
                parent={"name": old.card.get("name"), "path": str(old.path),
                        "weights_sha256": old.card.get("weights_sha256")},
                metrics={"weights": f"version 10 widened 2x (experiments/width_from_v10/widen.py, --start "
                                    f"{args.start}, noise {noise}, seed {args.seed})"})
    card.pop("weights_sha256", None)
    card.pop("version", None)
    print(save_model(net, card, parent_dir=args.out_parent, name=args.name))


if __name__ == "__main__":
    main()
