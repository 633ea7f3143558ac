"""Preprocessing benchmark: seconds per stage, total, peak memory, and the ratio to a plain N4 run.

    python benchmarks/bench_preprocessing.py /work/shared/data/clinical_flair_1mm/FLAIR.nii.gz \
        --out bench_preprocessing.json [--skull-strip template|hd-bet] [--skull-stripped] [--repeats 3] \
        [--png docs/raw_flair_clinical_flair_1mm.png]

The N4 reference is SimpleITK's N4 on the same image (Otsu mask, shrink 4, 4 levels x 50 iterations,
bias evaluated at full resolution): machine speed cancels out of the ratio, so it can be compared
across machines, while the seconds are only meaningful on the machine that measured them.
The JSON goes to --out (never overwriting an existing file); a Markdown table goes to stdout;
--png draws the brain mask's outline on a few axial slices of the input's own grid.
"""

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def n4_reference(path) -> dict:
    """Seconds (wall and CPU) of SimpleITK's N4 with the usual settings on the whole image."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path), sitk.sitkFloat32)
    wall, cpu = time.perf_counter(), time.process_time()
    shrunk = sitk.Shrink(image, [4] * 3)
    mask = sitk.OtsuThreshold(shrunk, 0, 1, 200)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([50] * 4)
    corrector.Execute(shrunk, mask)
    log_bias = corrector.GetLogBiasFieldAsImage(image)
    image / sitk.Exp(log_bias)
    return {"seconds": round(time.perf_counter() - wall, 2), "cpu_seconds": round(time.process_time() - cpu, 2)}


def run_once(path, skull_strip_method, skull_stripped) -> dict:
    from RadioWMHSegLib.image_io import read_flair
    from RadioWMHSegLib.preprocessing import preprocess

    wall, cpu = time.perf_counter(), time.process_time()
    image = read_flair(path)
    read_seconds = time.perf_counter() - wall
    case = preprocess(image, skull_stripped=skull_stripped, skull_strip_method=skull_strip_method, device="cpu")
    preprocess_seconds = time.perf_counter() - wall - read_seconds
    back_start = time.perf_counter()
    case.to_native(case.network_input)
    to_native_seconds = time.perf_counter() - back_start
    import numpy as np
    import SimpleITK as sitk

    from RadioWMHSegLib import templates

    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    # How well the brain landed on the template: overlap of the brain mask in MNI space with the
    # template's own brain mask (skull-stripping and registration errors both lower it).
    template_mask = sitk.GetArrayFromImage(templates.to_crop_grid(templates.mni_brain_mask(), sitk.sitkNearestNeighbor)) > 0
    brain_crop = case.brain_mask_crop > 0
    dice = 2.0 * np.logical_and(brain_crop, template_mask).sum() / (brain_crop.sum() + template_mask.sum())
    stages = {"read_flair": round(read_seconds, 2)}
    stages.update({entry["stage"]: round(entry["seconds"], 2) for entry in case.record})
    stages["to_native (one array)"] = round(to_native_seconds, 2)
    summary = {
        "stages": stages,
        "preprocess_seconds": round(read_seconds + preprocess_seconds, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "brain_mask_ml": round(float(sitk.GetArrayViewFromImage(case.brain_mask_native).sum()) * voxel_ml, 1),
        "mni_brain_dice_vs_template": round(float(dice), 3),
        "record": case.record,
    }
    return summary, image, case


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "load_average_1min": round(os.getloadavg()[0], 2),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def markdown(result) -> str:
    runs = result["runs"]
    lines = ["| stage | " + " | ".join(f"run {i + 1} (s)" for i in range(len(runs))) + " |",
             "|---|" + "---:|" * len(runs)]
    for stage in runs[0]["stages"]:
        lines.append(f"| {stage} | " + " | ".join(f"{run['stages'].get(stage, 0):.2f}" for run in runs) + " |")
    lines.append("| **read + preprocess** | " + " | ".join(f"**{run['preprocess_seconds']:.2f}**" for run in runs) + " |")
    lines.append("| CPU seconds (both cores) | " + " | ".join(f"{run['cpu_seconds']:.2f}" for run in runs) + " |")
    reference = result["n4_reference"]
    lines += [
        "",
        f"- N4 reference (SimpleITK, Otsu mask, shrink 4, 4x50, whole image): {reference['seconds']:.2f} s "
        f"wall, {reference['cpu_seconds']:.2f} s CPU",
        f"- median preprocess / N4 reference: {result['ratio_to_n4_reference']:.2f}",
        f"- peak memory (ru_maxrss): {result['peak_rss_mb']:.0f} MB, of which {result['baseline_rss_mb']:.0f} MB "
        "before any image was read",
        f"- brain mask: {runs[0]['brain_mask_ml']:.0f} mL; its overlap with the template brain in MNI space: "
        f"Dice {runs[0]['mni_brain_dice_vs_template']:.3f}",
        f"- machine: {result['machine']['cores']} cores, load average {result['machine']['load_average_1min']} at start",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flair", help="FLAIR image (file or DICOM folder)")
    parser.add_argument("--out", required=True, help="JSON file for the results (must not exist)")
    parser.add_argument("--skull-strip", default="template", choices=["template", "hd-bet", "auto"])
    parser.add_argument("--skull-stripped", action="store_true", help="the input is already skull-stripped")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--png", help="PNG of the brain mask outline on the input's axial slices (must not exist)")
    args = parser.parse_args(argv)

    import numpy as np

    from RadioWMHSegLib import templates
    from RadioWMHSegLib.preprocessing import pipeline  # noqa: F401  (imports count in the baseline, not the runs)
    from RadioWMHSegLib.safe_write import atomic_write_json

    import torch  # noqa: F401  (preprocess resolves the device through torch)

    templates.mni_t1()
    baseline = peak_rss_mb()
    machine_info = machine()
    runs = []
    for _ in range(args.repeats):
        summary, image, case = run_once(args.flair, args.skull_strip, args.skull_stripped)
        runs.append(summary)
    peak = peak_rss_mb()
    if args.png:
        from RadioWMHSegLib.overlay_png import save_overlay_png

        save_overlay_png(image, None, args.png, n_slices=5, extra_masks={"brain mask": case.brain_mask_native},
                         title=f"{Path(args.flair).name}: brain mask {runs[-1]['brain_mask_ml']:.0f} mL")
    reference = n4_reference(args.flair)
    median_seconds = float(np.median([run["preprocess_seconds"] for run in runs]))
    result = {
        "command": "python benchmarks/bench_preprocessing.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "input": str(args.flair),
        "skull_strip": "already stripped" if args.skull_stripped else args.skull_strip,
        "machine": machine_info,
        "runs": runs,
        "median_preprocess_seconds": round(median_seconds, 2),
        "n4_reference": reference,
        "ratio_to_n4_reference": round(median_seconds / reference["seconds"], 2),
        "peak_rss_mb": round(peak, 1),
        "baseline_rss_mb": round(baseline, 1),
    }
    atomic_write_json(args.out, result)
    print(markdown(result))


if __name__ == "__main__":
    main()
