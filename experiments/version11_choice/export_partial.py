"""Export a cut run's best-validation checkpoint as a model folder (v21 when the session ended), its card taken
from v20's (same architecture, classes, preprocessing) with the run's own facts. `python export_partial.py`."""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from RadioWMHSegLib import model_io  # noqa: E402
from RadioWMHSegLib.training.checkpoints import load_checkpoint  # noqa: E402

run = Path("/work/runs/v21/run")
best = load_checkpoint(run / "checkpoint_best.pt")
card = json.loads((HERE / "v20_model" / "model.json").read_text())
card["name"] = "radiowmhseg-attention-vnet-v21-partial"
card["training"] = {"run_dir": "v21/run", "config": json.loads((run / "config.json").read_text()),
                    "note": "cut run: best validation epoch so far; train_v21.sh resumes the run"}
card["metrics"] = {"validation_dice": best["val_dice"], "weights": f"best validation epoch so far ({best['epoch'] + 1})"}
net = model_io.build_network(card["architecture"])
net.load_state_dict(best["model"], strict=True)
card.pop("weights_sha256", None)
print(model_io.save_model(net, card, HERE, "v21_partial_model"), card["metrics"])
