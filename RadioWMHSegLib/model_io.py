"""Models on disk: a folder holding `model.pt` (weights) and `model.json` (the model card).

The card records everything needed to rebuild and trust the network: architecture, the
preprocessing it expects, its training data and recipe, measured metrics, and the SHA-256 of the
weights, so a swapped or truncated weight file is caught before it produces a wrong mask.
Fine-tuned models are written as new versioned folders under the user's model folder; the
bundled model in Resources/ is never written to.
"""

import copy
import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import safe_write, templates
from .errors import ModelError

CARD_FILE = "model.json"
WEIGHTS_FILE = "model.pt"
CARD_FORMAT = 1
BUNDLED_MODEL_NAME = "radiowmhseg-attention-vnet"
ARCHITECTURES = ("AttentionVNet",)
# The classes a network may output, in channel order: the dataset labels 0, 1 and 2 (datasets.py; label 3,
# unscored, is a training label only).
# Models trained with label2 'class' output all three; the others the first two.
LABEL_NAMES = ("background", "WMH", "other_pathology")


@dataclass
class LoadedModel:
    net: object  # torch.nn.Module in eval mode on its device
    card: dict
    path: Path = None


def _repository_root() -> Path:
    return Path(__file__).resolve().parent.parent


def bundled_model_dir() -> Path:
    """Where the model that ships with the project lives (repository or Slicer module layout)."""
    override = os.environ.get("RADIOWMHSEG_BUNDLED_MODEL")
    if override:
        return Path(override)
    root = _repository_root()
    candidates = [
        root / "Resources" / "Models" / BUNDLED_MODEL_NAME,
        root / "RadioWMHSeg" / "Resources" / "Models" / BUNDLED_MODEL_NAME,
    ]
    for candidate in candidates:
        if (candidate / CARD_FILE).exists():
            return candidate
    return candidates[0]


def user_models_dir() -> Path:
    """Folder of the user's own (fine-tuned) models: $RADIOWMHSEG_HOME/models, default ~/.radiowmhseg/models."""
    home = os.environ.get("RADIOWMHSEG_HOME") or os.path.join(os.path.expanduser("~"), ".radiowmhseg")
    return Path(home) / "models"


def list_models() -> list:
    """[(path, card)] for the bundled model (first) and every valid model in the user's folder."""
    found = []
    bundled = bundled_model_dir()
    if (bundled / CARD_FILE).exists():
        found.append((bundled, read_card(bundled)))
    user_dir = user_models_dir()
    if user_dir.is_dir():
        for folder in sorted(user_dir.iterdir()):
            if folder.name.startswith(".") or not (folder / CARD_FILE).exists():
                continue
            try:
                found.append((folder, read_card(folder)))
            except ModelError:
                continue  # a broken folder must not hide the others from the model selector
    return found


def read_card(model_dir) -> dict:
    model_dir = Path(model_dir)
    card_path = model_dir / CARD_FILE
    if not card_path.exists():
        raise ModelError(
            f"no model card {CARD_FILE} in {model_dir}: give a model folder made by RadioWMHSeg "
            "(holding model.json and model.pt)"
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {card_path} is not valid JSON ({exc}): the model folder is damaged") from exc
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT or "architecture" not in card:
        raise ModelError(
            f"model card {card_path} is not a RadioWMHSeg card of format {CARD_FORMAT}: "
            "it was made by another tool or version"
        )
    return card


def build_network(architecture: dict):
    """Rebuild the network described by a card's 'architecture' section."""
    from .network import AttentionVNet

    name = architecture.get("class")
    if name not in ARCHITECTURES:
        raise ModelError(f"unknown network class '{name}' in the model card: this version knows {ARCHITECTURES}")
    try:
        return AttentionVNet(**architecture.get("config", {}))
    except TypeError as exc:
        raise ModelError(f"the model card's architecture does not match this version's {name}: {exc}") from exc


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def flush_denormals(state: dict) -> dict:
    """state with its subnormal floats (|x| < 1.2e-38, not 0) set to 0, in place; returns it.

    45 % of HD-BET's fold-0 weights are subnormal, a trace of weight decay, and long fine-tuning can leave
    them in ours. Their products are nothing (HD-BET's logits came out bit-identical), but on Intel CPUs
    each costs a microcode assist: one HD-BET pass took 38 s with them and 0.9 s without on a 64^3 input
    (Xeon, AVX-512, 2 cores; docs/benchmarks.md).
    """
    import torch

    for tensor in state.values():
        if torch.is_tensor(tensor) and tensor.is_floating_point():
            tensor[(tensor != 0) & (tensor.abs() < torch.finfo(tensor.dtype).tiny)] = 0
    return state


def load_model(path=None, device="cpu") -> LoadedModel:
    """Load a model folder (None: the bundled model), check its weights, return it in eval mode."""
    import torch

    model_dir = Path(path) if path is not None else bundled_model_dir()
    if model_dir.is_file() and model_dir.name in (CARD_FILE, WEIGHTS_FILE):
        model_dir = model_dir.parent
    if not model_dir.exists():
        hint = " (the bundled model is missing from this installation: reinstall RadioWMHSeg)" if path is None else ""
        raise ModelError(f"model folder {model_dir} does not exist{hint}")
    card = read_card(model_dir)
    check_preprocessing(card)
    weights = model_dir / WEIGHTS_FILE
    if not weights.exists():
        raise ModelError(f"weights file {weights} is missing: the model folder is incomplete")
    expected = card.get("weights_sha256")
    if expected and sha256_of(weights) != expected:
        raise ModelError(
            f"weights file {weights} does not match its card (SHA-256 differs): it was changed or truncated; "
            "restore the model folder"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise ModelError(f"weights file {weights} cannot be read ({type(exc).__name__}): the file is damaged") from exc
    net = build_network(card["architecture"])
    try:
        net.load_state_dict(flush_denormals(state), strict=True)
    except (RuntimeError, KeyError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"weights in {weights} do not fit the architecture in its card: {first_line}") from exc
    net.eval().to(device)
    return LoadedModel(net=net, card=card, path=model_dir)


def class_names(card: dict, net=None) -> list:
    """The classes a model outputs, in channel order (cards before 'labels' existed: from the architecture)."""
    if card.get("labels"):
        return list(card["labels"])
    config = (card.get("architecture") or {}).get("config") or getattr(net, "config", None) or {}
    return list(LABEL_NAMES[: int(config.get("out_channels", 2))])


def check_pathology_class(model=None):
    """Refuse, before any work, a model (None, folder or LoadedModel) without the 'other pathology' class."""
    if isinstance(model, LoadedModel):
        card, net = model.card, model.net
    else:
        folder = Path(model) if model is not None else bundled_model_dir()
        card, net = read_card(folder.parent if folder.name in (CARD_FILE, WEIGHTS_FILE) else folder), None
    if LABEL_NAMES[2] not in class_names(card, net):
        raise ModelError(f"the model '{card.get('name')}' has no 'other pathology' class, so no pathology mask can be "
                         "made: use a 3-class model (trained with --label2 class) or leave the option out")


def code_preprocessing() -> dict:
    """The preprocessing this version gives the network: what a card's 'preprocessing' block must say."""
    return {
        "template": templates.TEMPLATE_NAME,
        "crop_start": list(templates.CROP_START),
        "crop_size": list(templates.CROP_SIZE),
        "spacing_mm": 1.0,
        "normalisation": "preprocessing.intensity.normalise_intensity",
    }


def check_preprocessing(card: dict):
    """Refuse a model trained on other input than this version prepares (another template, crop box,
    voxel size or normalisation): as in nnU-Net, the model folder says what its network was fed, and a
    network fed anything else gives masks that look plausible and are wrong."""
    name = card.get("name", "the model")
    stated = card.get("preprocessing")
    if not isinstance(stated, dict):
        raise ModelError(f"the card of model '{name}' does not say how its input was prepared (no 'preprocessing' "
                         "block): use a model folder made by RadioWMHSeg")
    ours = code_preprocessing()
    differing = [key for key in ours if stated.get(key) != ours[key]]  # JSON lists and numbers compare as such
    if differing:
        said = "; ".join(f"{key} {stated.get(key)} (this version: {ours[key]})" for key in differing)
        raise ModelError(f"model '{name}' was trained on input prepared otherwise than this version prepares it "
                         f"({said}): use it with the RadioWMHSeg version that made it, or train a new model with "
                         "this version")


def new_card(net, name: str, **sections) -> dict:
    """A model card for `net`: architecture and preprocessing filled in, other sections from kwargs."""
    card = {
        "format": CARD_FORMAT,
        "name": name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "architecture": {"class": type(net).__name__, "config": copy.deepcopy(net.config)},
        "labels": class_names({}, net),
        "preprocessing": code_preprocessing(),
        "training": {},
        "metrics": {},
        "parent": None,
    }
    card.update(copy.deepcopy(sections))
    return card


def save_model(net, card: dict, parent_dir=None, name=None) -> Path:
    """Write net + card as a NEW folder under parent_dir (default: the user's model folder).

    The folder is filled under a hidden staging name and renamed into place, so a model is either
    complete or absent; an existing model is never replaced (a _v2, _v3 ... name is taken).
    """
    import torch

    parent = Path(parent_dir) if parent_dir is not None else user_models_dir()
    bundled = bundled_model_dir().resolve()
    folder_name = safe_write.safe_name(name or card.get("name") or "model")
    if (parent / folder_name).resolve() == bundled or parent.resolve() == bundled:
        raise ModelError("refusing to write into the bundled model's folder: save fine-tuned models elsewhere")
    staging = safe_write.staging_directory(parent)
    try:
        weights = staging / WEIGHTS_FILE
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        torch.save(state, weights)
        card = dict(card)
        card["weights_sha256"] = sha256_of(weights)
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n", encoding="utf-8")
        return safe_write.publish_directory(staging, parent, folder_name)
    finally:
        safe_write.remove_staging(staging)
