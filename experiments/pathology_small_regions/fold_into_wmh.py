"""On the tumour-free severe-WMH validation cases (rad_severe_val): WMH Dice as segmented today, against a
"this scan has no tumour" reading where P(tumour) counts as WMH (P(WMH) + P(tumour) >= 0.5, no tumour rim).

    python fold_into_wmh.py DUMP_FOLDER      (DUMP_FOLDER from dump.py)
"""
import glob
import os
import sys

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, "/work/main")
from RadioWMHSegLib.metrics import dice  # noqa: E402
from RadioWMHSegLib.segment import masks_from_probabilities  # noqa: E402

for path in sorted(glob.glob(os.path.join(sys.argv[1], "rad_severe_val__*.npz"))):
    data = np.load(path)
    spacing = [float(s) for s in data["spacing"]]

    def image(array):
        result = sitk.GetImageFromArray(array.astype(np.float32))
        result.SetSpacing(spacing)
        return result

    p_wmh, p_tumour = data["wmh"].astype(np.float32), data["path"].astype(np.float32)
    truth = data["label"] == 1
    today, _ = masks_from_probabilities(image(p_wmh), image(p_tumour), 0.5, 10.0)
    folded, _ = masks_from_probabilities(image(p_wmh + p_tumour), None, 0.5, 10.0)
    print(os.path.basename(path)[:-4], "today %.3f" % dice(sitk.GetArrayFromImage(today) > 0, truth),
          "no tumour %.3f" % dice(sitk.GetArrayFromImage(folded) > 0, truth))
