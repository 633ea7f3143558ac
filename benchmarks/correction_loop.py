"""The 3D Slicer correction loop on real scans, headless: segment, correct, export, fine-tune, segment a new case.

    python benchmarks/correction_loop.py -o runs/correction_loop [--data ../shared/data/sim_vent_wmh]
        [--corrected A B C D] [--held-out E] [--from MODEL] [--epochs 2 --steps-per-epoch 50 --lr 3e-4]
        [--device cpu] [--skull-stripped]

What an annotator does in the module, played by this script on slicer-core (no GUI): each corrected
case's raw FLAIR is read into a scene (`read_volume_file`), segmented by the module's logic
(`RadioWMHSegLogic.segment`, the source model, brain extraction on), "corrected" by writing its
hand-drawn truth (WMH.nii.gz) into the WMH segment, and exported with `exportCase` into OUT/dataset;
the source model is then fine-tuned on exactly that folder (`transfer.finetune`, strategy all, the
recipe of docs/experiment.md: 2 epochs x 50 steps, lr 3e-4, fp32, the last weights kept since there
are no validation cases), and the held-out case is segmented by the source model and by the new one.
Prints (and writes OUT/correction_loop.json) the Dice of both on the held-out case's own grid, and the
Dice of each corrected case's first prediction against its truth (exportCase's
dice_original_vs_corrected).

Default cases: the four first cases of sim_vent_wmh corrected, the fifth held out. Note that the
bundled model (version 2) was itself fine-tuned on all five sim_vent_wmh cases: starting from it
measures nothing about adaptation; give --from a model that did not see them (version 1).
Takes tens of minutes on 2 busy CPU cores (HD-BET brain extraction and registration of five raw
scans, 100 training steps); OUT is never overwritten: use a new folder for each run.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
from RadioWMHSegLib.safe_write import atomic_write_text  # noqa: E402  (after the path)

DEFAULT_DATA = REPOSITORY.parent / "shared" / "data" / "sim_vent_wmh"


def _dice_on_grid(segmentation, volume, truth_path) -> float:
    import SimpleITK as sitk

    from RadioWMHSegLib import slicer_logic
    from RadioWMHSegLib.image_io import read_label
    from RadioWMHSegLib.metrics import compute_metrics

    mask = slicer_logic.segment_to_sitk(segmentation, volume)
    truth = slicer_logic.on_grid_of(sitk.Cast(read_label(truth_path) == 1, sitk.sitkUInt8), mask)
    return round(float(compute_metrics(mask, truth)["dsc"]), 4)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="a new folder for the dataset, run and results")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of case folders (FLAIR.nii.gz, WMH.nii.gz)")
    parser.add_argument("--corrected", nargs="+", help="case folders to correct and export (default: all but the last)")
    parser.add_argument("--held-out", help="case folder to segment with both models (default: the last)")
    parser.add_argument("--from", dest="source_model", help="model to start from (default: the bundled model)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skull-stripped", action="store_true",
                        help="the FLAIRs hold the brain only (no brain extraction)")
    args = parser.parse_args(argv)

    import slicer

    from RadioWMHSegLib import model_io, slicer_logic
    from RadioWMHSegLib.slicer_logic import RadioWMHSegLogic
    from RadioWMHSegLib.training.finetune import finetune

    data = Path(args.data)
    if not data.is_dir():
        sys.exit(f"{data} does not exist: give the folder of case folders with --data")
    cases = sorted(p.name for p in data.iterdir() if (p / "FLAIR.nii.gz").is_file() and (p / "WMH.nii.gz").is_file())
    corrected = args.corrected or cases[:-1]
    held_out = args.held_out or cases[-1]
    if held_out in corrected:
        sys.exit(f"{held_out} is both corrected and held out: choose another --held-out")
    out = Path(args.output)
    if out.exists():
        sys.exit(f"{out} already exists: give a new output folder")
    out.mkdir(parents=True)
    source = Path(args.source_model) if args.source_model else model_io.bundled_model_dir()
    if not args.source_model:
        print("note: the bundled model saw every sim_vent_wmh case; give --from a model that did not", flush=True)

    scene = slicer.vtkMRMLScene()
    slicer_logic.ensure_segmentation_converters(scene)
    logic = RadioWMHSegLogic()
    dataset = out / "dataset"
    results = {"source_model": str(source), "corrected": {}, "held_out": held_out}
    started = time.time()
    for name in corrected:
        volume = slicer_logic.read_volume_file(data / name / "FLAIR.nii.gz", scene, name=name)
        segmentation = logic.segment(volume, skullStripped=args.skull_stripped, device=args.device, model=source)
        truth = slicer_logic.read_volume_file(data / name / "WMH.nii.gz", scene, labelmap=True, name=f"{name} truth")
        mask = slicer_logic.labelmap_node_to_sitk(truth, volume)
        slicer_logic.set_mask_to_segment(segmentation, mask, slicer_logic.wmh_segment_id(segmentation))
        case = logic.exportCase(volume, segmentation, dataset, caseName=name, annotator="WMH.nii.gz")
        results["corrected"][name] = case.metadata.get("dice_original_vs_corrected")
        print(f"{name}: first prediction Dice {results['corrected'][name]} (exported as {case.name}), "
              f"{time.time() - started:.0f} s", flush=True)

    result = finetune(dataset, out / "run", source_model=source, strategy="all", models_dir=out / "models",
                      model_name="correction-loop", epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                      lr=args.lr, val_cases=0, precision="fp32", device=args.device, cache_root=out / "cache")
    if result.model_dir is None:
        sys.exit(f"fine-tuning stopped early: continue with radiowmhseg finetune --resume -o {result.run_dir}")
    print(f"fine-tuned model: {result.model_dir}, {time.time() - started:.0f} s", flush=True)

    volume = slicer_logic.read_volume_file(data / held_out / "FLAIR.nii.gz", scene, name=held_out)
    for label, model in (("before", source), ("after", result.model_dir)):
        segmentation = logic.segment(volume, skullStripped=args.skull_stripped, device=args.device, model=model)
        results[f"held_out_dice_{label}"] = _dice_on_grid(segmentation, volume, data / held_out / "WMH.nii.gz")
    results["seconds"] = round(time.time() - started)
    atomic_write_text(out / "correction_loop.json", json.dumps(results, indent=2) + "\n", overwrite=True)
    print(f"held-out {held_out}: Dice {results['held_out_dice_before']} with {source.name}, "
          f"{results['held_out_dice_after']} after fine-tuning on {len(corrected)} corrected cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
