"""How far the widened network's channel copies moved apart in training: for each widened convolution, the
norm of (copy B - copy A) over the norm of copy A, for the widened start and for the trained weights.
`python experiments/width_from_v10/copies_apart.py START_MODEL TRAINED_MODEL` (RULE.md's W)."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from RadioWMHSegLib.model_io import load_model  # noqa: E402


def apart(state: dict) -> dict:
    """Relative difference of the two copies of each widened layer's output channels (convolutions only)."""
    out = {}
    for key, w in state.items():
        if w.dim() != 5 or key.endswith("psi.weight") or key.startswith("output."):
            continue
        axis = 1 if key.startswith("up.") else 0  # ConvTranspose3d weights are (in, out, k...)
        half = w.shape[axis] // 2
        a, b = w.narrow(axis, 0, half), w.narrow(axis, half, half)
        out[key] = float((b - a).norm() / a.norm())
    return out


start, trained = (apart(load_model(p).net.state_dict()) for p in sys.argv[1:3])
for key in start:
    print(f"{key:40s} start {start[key]:.4f}  trained {trained[key]:.4f}")
print(f"median over {len(start)} layers: start {sorted(start.values())[len(start) // 2]:.4f}, "
      f"trained {sorted(trained.values())[len(start) // 2]:.4f}")
