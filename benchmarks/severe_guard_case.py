"""The bundled-model guard case (Testing/test_bundled_model.py) scored for any models: a tumour-free synthetic
brain with severe confluent radiation-induced WMH (seed 400 case 0, severity 0.89, 159 mL), on the crop, no TTA.

    python benchmarks/severe_guard_case.py [MODEL_DIR|bundled ...]

Prints per model: WMH Dice, WMH found (mL), and the volume called other pathology (mL; 3-class models). A
candidate that took this WMH for oedema (62 mL) was not shipped; check a new one here before installing it.
"""

import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))


def main():
    import SimpleITK as sitk

    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.inference import predict
    from RadioWMHSegLib.metrics import dice
    from RadioWMHSegLib.preprocessing.crop import crop_and_normalise
    from RadioWMHSegLib.preprocessing.skull_strip import mask_from_stripped
    from RadioWMHSegLib.synth.generator import case_seed, generate_case

    image, label, metadata = generate_case(case_seed(400, 0), "radiation", thick_slice_probability=0.0)
    network_input, _ = crop_and_normalise(image, mask_from_stripped(image))
    truth = sitk.GetArrayFromImage(label) == 1
    print(f"severity {metadata['lesions']['severity']}, true WMH {truth.sum() / 1000.0:.1f} mL")
    for model in sys.argv[1:] or ["bundled"]:
        loaded = model_io.load_model(None if model == "bundled" else model, device="cpu")
        prediction = predict(loaded.net, network_input, device="cpu")
        wmh = prediction.wmh >= 0.5
        pathology = "-" if prediction.pathology is None else f"{(prediction.pathology >= 0.5).sum() / 1000.0:.1f}"
        print(f"{model}: WMH Dice {dice(wmh, truth):.3f}, WMH found {wmh.sum() / 1000.0:.1f} mL, "
              f"other pathology {pathology} mL")


if __name__ == "__main__":
    main()
