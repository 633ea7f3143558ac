"""Export the last epoch's weights of runs/v17/run as a model folder beside the best one (the rule's 2nd candidate)."""
import json, sys
from pathlib import Path
sys.path.insert(0, "/work/main")
from RadioWMHSegLib import model_io
from RadioWMHSegLib.training.checkpoints import load_checkpoint

run = Path("/work/runs/v17/run"); models = Path("/work/runs/v17/models")
best_dir = models / "radiowmhseg-attention-vnet-v17"
card = json.loads((best_dir / "model.json").read_text())
last = load_checkpoint(run / "checkpoint_last.pt")
net = model_io.build_network(card["architecture"]); net.load_state_dict(last["model"], strict=True)
history = last["history"]
card["metrics"] = {**card.get("metrics", {}), "validation_dice": history[-1].get("val_dice"),
                   "weights": f"last epoch ({last['epoch'] + 1})"}
card["name"] = "radiowmhseg-attention-vnet-v17-last"
print(model_io.save_model(net, card, models, "radiowmhseg-attention-vnet-v17-last"), card["metrics"])
