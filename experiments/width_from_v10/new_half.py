"""How much F's old channels came to read its new half: for each widened convolution, the norm of the weights by
which old output channels read new input channels (zero at F's start, widen.py --start fresh) over the norm of
those by which they read old ones, after training. Near zero: the network still computes through version 10's
channels and the new half is not used.
`python experiments/width_from_v10/new_half.py START_MODEL TRAINED_MODEL` (RULE.md's F)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from RadioWMHSegLib.model_io import load_model  # noqa: E402
from widen import layer_axes, origin  # noqa: E402  (the same maps of old and new positions that made F)


def reading_new(state: dict, narrow: dict) -> dict:
    """Per widened convolution: |old outputs reading new inputs| / |old outputs reading old inputs|."""
    out = {}
    for key, w in state.items():
        if w.dim() != 5 or key not in narrow or narrow[key].shape == w.shape:
            continue
        out_axis, in_axis, concatenated = layer_axes(key)
        out_from = origin(narrow[key].shape[out_axis], w.shape[out_axis], False)
        in_from = origin(narrow[key].shape[in_axis], w.shape[in_axis], concatenated)
        old_out = w.index_select(out_axis, (out_from >= 0).nonzero().flatten())
        new_in = old_out.index_select(in_axis, (in_from < 0).nonzero().flatten())
        old_in = old_out.index_select(in_axis, (in_from >= 0).nonzero().flatten())
        if new_in.numel():
            out[key] = float(new_in.norm() / old_in.norm())
    return out


if __name__ == "__main__":
    start, trained = (load_model(p) for p in sys.argv[1:3])
    bundled = load_model(None).net.state_dict()  # version 10: the narrow shapes
    before = reading_new(start.net.state_dict(), bundled)
    after = reading_new(trained.net.state_dict(), bundled)
    for key in after:
        print(f"{key:40s} start {before[key]:.4f}  trained {after[key]:.4f}")
    values = sorted(after.values())
    print(f"over {len(values)} layers: median {values[len(values) // 2]:.4f}, largest {values[-1]:.4f} "
          f"(start: largest {max(before.values()):.4f})")
