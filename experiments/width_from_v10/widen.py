"""Version 10 at twice its width, computing the same function (Net2Net widening, Chen et al., ICLR 2016).

    python experiments/width_from_v10/widen.py OUT_PARENT [--noise 0.01] [--seed 0]

Every channel of every hidden layer is doubled: new channel j copies old channel j mod C, and each layer that
reads a doubled channel reads both copies at half weight, so the 2x network (16-32-64-128-256) gives version 10's
output exactly. Instance normalisation (no affine parameters) normalises both copies alike, the residual stages'
identity skips stay identities, and PReLU has one parameter per layer. The decoder's first convolution and its
skip read [gated skip, upsampled] concatenated: there the copies are mapped half by half. Exact copies would get
equal gradients for ever, so a small seeded noise (`--noise` x each layer's weight std) breaks the symmetry; the
script prints how far that moves the output. Experiment scaffolding (experiments/width_from_v10/RULE.md).
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


def widen_state(old_state: dict, new_state: dict) -> dict:
    widened = {}
    for key, target in new_state.items():
        source = old_state[key]
        if source.shape == target.shape:
            widened[key] = source.clone()
            continue
        transposed = key.startswith("up.")  # ConvTranspose3d weights are (in, out, k...)
        if source.dim() == 1:  # a bias: one per output channel
            widened[key] = source[channel_map(source.shape[0], target.shape[0], False)]
            continue
        out_axis, in_axis = (1, 0) if transposed else (0, 1)
        concatenated = key.startswith("decoder.") and (".convs.0." in key or ".skip." in key)
        out_map = channel_map(source.shape[out_axis], target.shape[out_axis], False)
        in_map = channel_map(source.shape[in_axis], target.shape[in_axis], concatenated)
        tensor = source.index_select(out_axis, out_map).index_select(in_axis, in_map)
        copies = torch.bincount(in_map, minlength=source.shape[in_axis]).to(tensor.dtype)[in_map]
        shape = [1] * tensor.dim()
        shape[in_axis] = -1
        widened[key] = tensor / copies.reshape(shape)
    return widened


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_parent")
    parser.add_argument("--model", default=None, help="model folder to widen (default: the bundled one)")
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="radiowmhseg-attention-vnet-v10-wide")
    args = parser.parse_args(argv)

    old = load_model(args.model)
    architecture = copy.deepcopy(old.card["architecture"])
    architecture["config"]["channels"] = [2 * c for c in architecture["config"]["channels"]]
    net = build_network(architecture)
    net.load_state_dict(widen_state(old.net.state_dict(), net.state_dict()), strict=True)
    net.eval()

    torch.manual_seed(args.seed)
    x = torch.randn(1, 1, 64, 64, 64)
    with torch.no_grad():
        reference = torch.softmax(old.net(x), 1)
        exact = (torch.softmax(net(x), 1) - reference).abs().max().item()
        for key, tensor in net.state_dict().items():
            if tensor.dim() > 1 and tensor.shape != old.net.state_dict()[key].shape:
                tensor.add_(torch.randn_like(tensor) * args.noise * tensor.std())
        noisy = (torch.softmax(net(x), 1) - reference).abs().max().item()
    print(f"largest change of a probability on a random 64^3 input: widened {exact:.2e}, with noise {noisy:.2e}")
    if exact > 1e-4:
        raise SystemExit("the widened network does not compute version 10's function: not saved")

    card = copy.deepcopy(old.card)
    card.update(name=args.name, architecture=architecture,
                parent={"name": old.card.get("name"), "path": str(old.path), "weights_sha256": old.card.get("weights_sha256")},
                metrics={"weights": f"version 10 widened 2x (experiments/width_from_v10/widen.py, noise {args.noise}, "
                                    f"seed {args.seed})"})
    card.pop("weights_sha256", None)
    card.pop("version", None)
    print(save_model(net, card, parent_dir=args.out_parent, name=args.name))


if __name__ == "__main__":
    main()
