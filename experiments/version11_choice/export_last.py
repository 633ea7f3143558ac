"""Export a run's last-epoch weights as a model folder beside its best one (the rule's 'last' candidate).
`python3 export_last.py RUN_DIR MODELS_DIR NAME`: writes MODELS_DIR/NAME-last from RUN_DIR/checkpoint_last.pt."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import sitk_stub  # noqa: F401,E402
from RadioWMHSegLib import model_io  # noqa: E402
from RadioWMHSegLib.training.checkpoints import load_checkpoint  # noqa: E402

run, models, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
card = json.loads((models / name / "model.json").read_text())
last = load_checkpoint(run / "checkpoint_last.pt")
net = model_io.build_network(card["architecture"])
net.load_state_dict(last["model"], strict=True)
card["metrics"] = {**card.get("metrics", {}), "validation_dice": last["history"][-1].get("val_dice"),
                   "weights": f"last epoch ({last['epoch'] + 1})"}
card["name"] = f"{name}-last"
print(model_io.save_model(net, card, models, f"{name}-last"), card["metrics"])
