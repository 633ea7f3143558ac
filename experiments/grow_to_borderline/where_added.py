"""Where the G30 growth adds voxels: inside MNI white matter (probability >= 0.5) or not, and how much of each is
true WMH where there is truth. Diagnosis after the rule's outcome (RULE.md), on validation scans only:

    python experiments/grow_to_borderline/where_added.py G30_FOLDER SCAN[:TRUTH[:UNSCORED]] ...
"""
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (installs the growth for models named for it)
from RadioWMHSegLib import model_io, segment  # noqa: E402
from RadioWMHSegLib.image_io import read_flair, read_label  # noqa: E402
from RadioWMHSegLib.undercall_check import WHITE_MATTER_P, white_matter_on_crop  # noqa: E402

captured = {}
original = segment.on_input_grid


def keep_white_matter(case, crop_array):  # the white-matter map the under-call check puts on the input grid
    image = original(case, crop_array)
    if crop_array is white_matter_on_crop():
        captured["wm"] = image
    return image


segment.on_input_grid = keep_white_matter


def skull_stripped(scan):
    """What the scan's dataset.json says (a synthetic case in imagesTr/); a raw scan elsewhere has its skull."""
    record = Path(scan).parent.parent / "dataset.json"
    return bool(json.loads(record.read_text()).get("skull_stripped")) if record.exists() else False

grown_model = model_io.load_model(sys.argv[1], "cpu")
base_model = model_io.load_model(None, "cpu")
for spec in sys.argv[2:]:
    scan, *rest = spec.split(":")
    image = read_flair(scan)
    stripped = skull_stripped(scan)
    base = segment.segment_image(image, model=base_model, device="cpu", skull_stripped=stripped)
    grown = segment.segment_image(image, model=grown_model, device="cpu", skull_stripped=stripped)
    added = (sitk.GetArrayFromImage(grown.mask) > 0) & (sitk.GetArrayFromImage(base.mask) == 0)
    wm = sitk.GetArrayFromImage(captured["wm"]) >= WHITE_MATTER_P
    ml = float(np.prod(image.GetSpacing())) / 1000.0
    row = {"scan": spec, "base_ml": round(base.stats.total_volume_ml, 2),
           "added_ml_in_wm": round(float((added & wm).sum()) * ml, 2),
           "added_ml_outside_wm": round(float((added & ~wm).sum()) * ml, 2)}
    if rest:
        truth = sitk.GetArrayFromImage(read_label(rest[0])) > 0
        for name, where in (("in_wm", added & wm), ("outside_wm", added & ~wm)):
            row[f"true_fraction_added_{name}"] = round(float((where & truth).sum()) / max(int(where.sum()), 1), 3)
        if len(rest) > 1:
            bands = sitk.GetArrayFromImage(read_label(rest[1])) > 0
            row["added_ml_on_unscored_bands"] = round(float((added & bands).sum()) * ml, 2)
    print(row, flush=True)
