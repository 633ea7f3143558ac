"""`radiowmhseg info`: the model card and the device that would be used."""

import json
import re
from pathlib import PurePath

from ..choices import DEVICE_CHOICES

# An absolute path inside a longer text (/a/b/c, C:\\a\\b): shown as its last part.
_EMBEDDED_PATH = re.compile(r"(?<![\w.])(?:/|[A-Za-z]:[\\/])(?:[\w.+-]+[\\/])+([\w.+-]+)")


def add_parser(subparsers, name):
    p = subparsers.add_parser(name, help="show the model card and the device that would be used")
    p.add_argument("--model", help="model folder (default: the bundled model)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.set_defaults(run=run)
    return p


def _without_machine_paths(value, key=""):
    """The card as shown: paths of the machine the model was trained on cut to their base names."""
    if isinstance(value, dict):
        return {k: _without_machine_paths(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_machine_paths(v, key) for v in value]
    if isinstance(value, str) and (key == "path" or key.endswith(("_path", "_dir")) or value.startswith(("/", "~"))
                                   or (len(value) > 2 and value[1] == ":" and value[2] in "\\/")):
        return PurePath(value.replace("\\", "/")).name or value
    if isinstance(value, str):
        return _EMBEDDED_PATH.sub(r"\1", value)
    return value


def run(args) -> int:
    from .. import __version__
    from ..device import describe_device, resolve_device
    from ..model_io import bundled_model_dir, list_models, read_card

    device = resolve_device(args.device)
    model_dir = args.model or bundled_model_dir()
    card = _without_machine_paths(read_card(model_dir))  # the card file itself keeps them
    if args.json:
        print(json.dumps({"version": __version__, "device": describe_device(device), "model_path": str(model_dir),
                          "card": card}, indent=2))
        return 0
    print(f"RadioWMHSeg {__version__}")
    print(f"device: {describe_device(device)}")
    # The bundled model's card numbers its versions (docs/model.md); a user's fine-tuned model may have none.
    version = f" version {card['version']}" if card.get("version") is not None else ""
    print(f"model: {card.get('name')}{version} ({model_dir})")
    print(f"  created: {card.get('created')}  parent: {card.get('parent')}")
    arch = card["architecture"]
    print(f"  architecture: {arch['class']} {arch.get('config')}")
    training = card.get("training") or {}
    for key in ("summary", "data", "strategy", "steps"):
        if key in training:
            print(f"  training {key}: {training[key]}")
    for group, metrics in (card.get("metrics") or {}).items():
        text = metrics if not isinstance(metrics, dict) else ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
        print(f"  metrics {group}: {text}")
    others = [path for path, _ in list_models()[1:]]
    if others:
        print("other models found: " + ", ".join(str(p) for p in others))
    return 0
