"""Each predicted label-2 region (P(tumour) >= 0.5, 26-connected, >= 0.3 mL) of the dumped cases: what it covers
(true tumour, true WMH or neither, by majority), its volume and its mean and highest P(tumour)."""
import glob
import os
import sys

import numpy as np
from scipy import ndimage

for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.npz"))):
    data = np.load(path)
    labels, p_tumour = data["label"], data["path"].astype(np.float32)
    voxel_ml = float(np.prod(data["spacing"])) / 1000.0
    regions, count = ndimage.label(p_tumour >= 0.5, np.ones((3, 3, 3)))
    described = []
    for index in range(1, count + 1):
        region = regions == index
        if region.sum() * voxel_ml < 0.3:
            continue
        kind = ("tumour" if (labels[region] == 2).mean() > 0.5 else
                "WMH" if (labels[region] == 1).mean() > 0.5 else "neither")
        described.append(f"[{kind} {region.sum() * voxel_ml:.1f} mL, P mean {p_tumour[region].mean():.2f}"
                         f" max {p_tumour[region].max():.2f}]")
    print(os.path.basename(path)[:-4], " ".join(described))
