"""The v18g run on a lent GPU (see RULE.md): unpack the carried caches, probe the steps per second, size the epochs
to the time left, train, pack the models and logs into $OUT. Experiment scaffolding:
`BUDGET_S=420 python3 experiments/version11_choice/gpu_run.py` from the repository root, .gpu/C carried."""
import json
import lzma
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

START = time.time()
BUDGET = float(os.environ.get("BUDGET_S", "420"))  # seconds for the whole script
SMOKE = os.environ.get("SMOKE") == "1"
OUT = Path(os.environ.get("OUT", "/tmp/out"))
WORK = Path(os.environ.get("WORK", "/tmp/v18g"))
ROOT = Path.cwd()
CARRIED = ROOT / ".gpu" / "C" / "data"
HERE = Path(__file__).resolve().parent


def unpack(dataset):
    """packed/*.xz -> preprocessed/*.npz (uncompressed: the device reads them fastest)."""
    (dataset / "preprocessed").mkdir(exist_ok=True)
    record = json.loads((dataset / "packed" / "record.json").read_text())
    for name, entry in record["cases"].items():
        meta = json.loads((dataset / "packed" / f"{name}.json").read_text())
        blob, arrays, at = lzma.decompress((dataset / "packed" / f"{name}.xz").read_bytes()), {}, 0
        for key, (dtype, shape) in meta.items():
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            arrays[key] = np.frombuffer(blob[at:at + size], dtype=dtype).reshape(shape)
            at += size
        np.savez(dataset / "preprocessed" / entry["file"], **arrays)
    (dataset / "preprocessed" / "record.json").write_text(json.dumps(record))


def launch(tag, job):
    run = WORK / tag
    run.mkdir(parents=True, exist_ok=True)
    job = dict(job, run_dir=str(run / "run"), models_dir=str(run / "models"))
    (run / "job.json").write_text(json.dumps(job))
    with open(run / "stdout.txt", "w") as log:
        code = subprocess.call([sys.executable, str(HERE / "train_one.py"), str(run / "job.json")], stdout=log,
                               stderr=subprocess.STDOUT)
    if code:
        print(f"{tag} FAILED:\n" + (run / "stdout.txt").read_text()[-4000:], flush=True)
    return code == 0


def epoch_seconds(tag):
    rows = (WORK / tag / "run" / "training_log.csv").read_text().splitlines()[1:]
    return [float(r.split(",")[-1]) for r in rows]


datasets = sorted(p for p in CARRIED.iterdir() if p.is_dir())
for d in datasets:
    unpack(d)
print(f"unpacked {len(datasets)} datasets at {time.time() - START:.0f} s", flush=True)
device = "cuda" if not SMOKE else "cpu"
job = dict(target=str(CARRIED / "sim_vent_pv_ds"), strategy="all",
           source_datasets=[str(d) for d in datasets if d.name != "sim_vent_pv_ds"],
           source_model=str(ROOT / "Resources/Models/radiowmhseg-attention-vnet"), lr=5e-5, label2="class",
           target_share=0.5, val_cases=1, patience=None, precision="bf16", device=device, patch_size=[96, 96, 96],
           num_workers=(os.cpu_count() or 2) - 2, seed=1, show_progress=False, model_name=os.environ.get("NAME", "radiowmhseg-attention-vnet-v18g"))
probe_steps = 4 if SMOKE else 100
ok = launch("probe", dict(job, epochs=1, steps_per_epoch=probe_steps))
if ok:
    # the probe's seconds hold the steps and also per-epoch costs (workers' start, validation, checkpoint) and the
    # one-off warm-up: twice them overstates a 200-step epoch, so plan on 3/4 of that and let the time limit (checked
    # after each epoch) end the run if the plan was short; the device call's own timeout leaves room for one more
    probe = epoch_seconds("probe")[0]
    left = BUDGET - (time.time() - START) - 40  # the export and packing
    per_epoch = float(os.environ.get("EPOCH_S", 0)) or 0.75 * probe * 200 / probe_steps  # EPOCH_S: measured before
    epochs = 1 if SMOKE else max(1, int(left // per_epoch))
    print(f"probe: {probe_steps} steps + validation in {probe:.1f} s; {left:.0f} s left -> {epochs} epochs of 200",
          flush=True)
    steps = 4 if SMOKE else 200
    # the limit is the time the plan was sized for: the trainer ends after the epoch that passes it, so a run on
    # pace finishes its plan (v18g and v18h, limited at left - per_epoch, each stopped an epoch short)
    ok = launch("main", dict(job, epochs=epochs, steps_per_epoch=steps, time_limit_s=left))
print(f"runs done at {time.time() - START:.0f} s", flush=True)
if ok:
    subprocess.call([sys.executable, str(HERE / "export_last.py"), str(WORK / "main" / "run"), str(WORK / "main" / "models"),
                     job["model_name"]])
OUT.mkdir(parents=True, exist_ok=True)
with tarfile.open(OUT / "models.tar", "w") as tar:
    for m in (WORK / "main" / "models").glob("*"):
        tar.add(m, arcname=m.name)
with tarfile.open(OUT / "runs.tar.gz", "w:gz") as tar:
    for tag in ("probe", "main"):
        for f in ["stdout.txt", "job.json", "run/training_log.csv", "run/record.json", "run/config.json"]:
            if (WORK / tag / f).exists():
                tar.add(WORK / tag / f, arcname=f"{tag}/{f}")
print(f"packed at {time.time() - START:.0f} s", flush=True)
