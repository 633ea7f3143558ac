"""How far training moved a model's convolution weights (norm of the change over the start's norm, all layers
together), and, for a widened network, how far its channel copies moved apart: for each widened convolution the
norm of (copy B - copy A) over copy A's, at the start and after training.
`python experiments/width_from_v10/copies_apart.py START_MODEL TRAINED_MODEL` (RULE.md's W; C with the bundled
model as its start prints the first line only)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from RadioWMHSegLib.model_io import load_model  # noqa: E402
from widen import layer_axes  # noqa: E402


def apart(state: dict) -> dict:
    """Relative difference of the two copies of each widened layer's output channels (convolutions only)."""
    out = {}
    for key, w in state.items():
        if w.dim() != 5 or key.endswith("psi.weight") or key.startswith("output."):
            continue
        axis = layer_axes(key)[0]
        half = w.shape[axis] // 2
        a, b = w.narrow(axis, 0, half), w.narrow(axis, half, half)
        out[key] = float((b - a).norm() / a.norm())
    return out


first, second = (load_model(p) for p in sys.argv[1:3])
a, b = first.net.state_dict(), second.net.state_dict()
convs = [k for k in a if a[k].dim() == 5]
change = sum(float((b[k] - a[k]).norm() ** 2) for k in convs) / sum(float(a[k].norm() ** 2) for k in convs)
print(f"convolution weights moved {100 * change ** 0.5:.1f} %")
if first.card["architecture"]["config"]["channels"][0] == 8:
    sys.exit()  # the shipped width: no copies
start, trained = apart(a), apart(b)
for key in start:
    print(f"{key:40s} start {start[key]:.4f}  trained {trained[key]:.4f}")
print(f"median over {len(start)} layers: start {sorted(start.values())[len(start) // 2]:.4f}, "
      f"trained {sorted(trained.values())[len(start) // 2]:.4f}")
