"""A run's best-validation weights so far as a model folder (a run cut between sessions keeps them in git):
`python experiments/width_from_v10/export_best.py RUN_DIR START_MODEL OUT_PARENT NAME`."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from RadioWMHSegLib import model_io  # noqa: E402
from RadioWMHSegLib.training.checkpoints import load_checkpoint  # noqa: E402

run, start, parent, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
card = json.loads((start / "model.json").read_text())
best = load_checkpoint(run / "checkpoint_best.pt")
net = model_io.build_network(card["architecture"])
net.load_state_dict(best["model"], strict=True)
card.pop("weights_sha256", None)
card.update(name=name, metrics={"validation_dice": best["val_dice"], "run": str(run),
                                "weights": f"best epoch so far ({best['epoch'] + 1})"})
print(model_io.save_model(net, card, parent, name))
