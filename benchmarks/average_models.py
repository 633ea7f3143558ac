"""A uniform weight average ("model soup") of models fine-tuned from one parent: a new model folder.

    python benchmarks/average_models.py RUN1/models/A RUN2/models/B ... -o OUT_PARENT --name NAME

Weights fine-tuned from the same parent with the same recipe sit in one basin of the loss; their average is
often better than any one of them and smooths the seed and epoch noise that a single validation case cannot
see through (Wortsman et al., "Model soups", ICML 2022). It costs no training and no inference time.
The inputs must share architecture, classes, preprocessing and parent weights (or be a model and its parent):
averaging unrelated networks gives noise, so that is refused. The new folder's card keeps the first model's
training record and lists every averaged model (path, weights sha256, seed, metrics); it is written as a new
folder, never over one.
"""

import argparse
import copy
import datetime
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

# Card sections that must be equal for an average to make sense.
MUST_MATCH = ("architecture", "labels", "preprocessing")


def average_state_dicts(states: list) -> dict:
    """The element-wise mean of state dicts with the same keys and shapes (float tensors; others must agree)."""
    import torch

    first = states[0]
    for index, state in enumerate(states[1:], start=2):
        if state.keys() != first.keys():
            raise ValueError(f"model {index} has other layers than model 1: these networks cannot be averaged")
        for key, tensor in state.items():
            if tensor.shape != first[key].shape:
                raise ValueError(f"model {index}'s '{key}' has shape {tuple(tensor.shape)}, model 1's "
                                 f"{tuple(first[key].shape)}: these networks cannot be averaged")
    averaged = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            # Summed in float64 so that the mean of N float32 weights does not depend on their order.
            total = sum(state[key].double() for state in states)
            averaged[key] = (total / len(states)).to(tensor.dtype)
        else:
            if any(not torch.equal(state[key], tensor) for state in states):
                raise ValueError(f"the integer buffer '{key}' differs between the models: it cannot be averaged")
            averaged[key] = tensor.clone()
    return averaged


def shared_parent(cards: list, paths: list) -> str:
    """The sha256 of the weights every model was fine-tuned from. One of the models may be those weights
    themselves: halfway between a fine-tuned model and its starting point is still on one path of the loss
    (WiSE-FT, Wortsman et al., CVPR 2022), which can keep the fine-tuning's gain and the start's robustness."""
    own = [card.get("weights_sha256") for card in cards]
    parents = [(card.get("parent") or {}).get("weights_sha256") for card in cards]
    for candidate in parents:
        if candidate is not None and all(candidate in (parent, weights) for parent, weights in zip(parents, own)):
            return candidate
    raise ValueError(f"{', '.join(paths)} were not all fine-tuned from the same parent weights, nor is one of them the "
                     "others' parent: average only models fine-tuned from one parent, or a model with its parent")


def soup_card(cards: list, paths: list, name: str) -> dict:
    """The averaged model's card: the first card's record, the averaged models listed, checked to be compatible."""
    first = cards[0]
    for index, card in enumerate(cards[1:], start=2):
        for section in MUST_MATCH:
            if card.get(section) != first.get(section):
                raise ValueError(f"{paths[index - 1]} differs from {paths[0]} in its '{section}': only models of "
                                 "one architecture, classes and preprocessing can be averaged")
    parent = shared_parent(cards, paths)
    card = copy.deepcopy(first)
    # the parent named is the shared one, also when the first model given is that parent itself
    card["parent"] = next(c["parent"] for c in cards if (c.get("parent") or {}).get("weights_sha256") == parent)
    card["name"] = name
    card["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    card["metrics"] = {"weights": f"uniform weight average of {len(cards)} models (benchmarks/average_models.py)"}
    card["averaged_from"] = [
        {"path": str(path), "name": c.get("name"), "weights_sha256": c.get("weights_sha256"),
         "seed": c.get("training", {}).get("recipe", {}).get("seed"), "metrics": c.get("metrics")}
        for path, c in zip(paths, cards)]
    for key in ("weights_sha256", "version"):
        card.pop(key, None)
    return card


def average_models(model_dirs: list, out_parent, name: str) -> Path:
    """Average the weights of model_dirs into a new model folder `name` under out_parent; returns its path."""
    import torch

    from RadioWMHSegLib import model_io

    if len(model_dirs) < 2:
        raise ValueError("give at least two models to average")
    cards = [model_io.read_card(path) for path in model_dirs]
    card = soup_card(cards, [str(path) for path in model_dirs], name)
    states = [torch.load(Path(path) / model_io.WEIGHTS_FILE, map_location="cpu", weights_only=True)
              for path in model_dirs]
    net = model_io.build_network(card["architecture"])
    net.load_state_dict(average_state_dicts(states), strict=True)
    return model_io.save_model(net, card, out_parent, name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="model folders (model.json + model.pt)")
    parser.add_argument("-o", "--out-parent", type=Path, required=True, help="folder to write the new model in")
    parser.add_argument("--name", required=True, help="the new model folder's name")
    args = parser.parse_args(argv)
    from RadioWMHSegLib.errors import RadioWMHSegError

    try:
        print(average_models(args.models, args.out_parent, args.name))
    except (ValueError, RadioWMHSegError) as error:  # a folder that is not a model, or models that do not fit
        parser.error(str(error))


if __name__ == "__main__":
    main()
