"""Where the growth goes on a raw scan without truth: version 10's mask filled, what G30 adds outlined.

    python experiments/grow_to_borderline/overlay.py FLAIR G30_FOLDER OUT.png
"""
import sys
from pathlib import Path

import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402,F401  (installs the growth for models named for it)
from RadioWMHSegLib import model_io  # noqa: E402
from RadioWMHSegLib.image_io import read_flair  # noqa: E402
from RadioWMHSegLib.overlay_png import save_overlay_png  # noqa: E402
from RadioWMHSegLib.segment import segment_image  # noqa: E402

flair, grown_model, out = sys.argv[1:4]
image = read_flair(flair)
base = segment_image(image, model=model_io.load_model(None, "cpu"), device="cpu")
grown = segment_image(image, model=model_io.load_model(grown_model, "cpu"), device="cpu")
added = sitk.Cast(sitk.And(grown.mask > 0, base.mask == 0), sitk.sitkUInt8)
print(f"version 10 {base.stats.total_volume_ml:.2f} mL, grown {grown.stats.total_volume_ml:.2f} mL")
save_overlay_png(image, base.mask, out, n_slices=5, extra_masks={"added by G30": added},
                 title=f"{Path(flair).name}: version 10 (filled), added by growing to P >= 0.3 (outlined)")
