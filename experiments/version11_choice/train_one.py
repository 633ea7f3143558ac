"""One fine-tuning run from carried training caches (the device has no SimpleITK; training reads only the
caches). Experiment scaffolding, not part of the project: `python3 train_one.py JOB.json`."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import sitk_stub  # noqa: F401,E402  (before the project: the device has no SimpleITK)

from RadioWMHSegLib.datasets import load_dataset  # noqa: E402
from RadioWMHSegLib.training import data, preprocess_dataset as ppd  # noqa: E402
from RadioWMHSegLib.training.finetune import finetune  # noqa: E402

data._load_dataset = lambda path: load_dataset(path, check_geometry=False)


def cached_only(dataset, cache_dir=None, grid="crop", device="cpu", progress=None):
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(dataset.path) / "preprocessed"
    record = json.loads((cache_dir / "record.json").read_text())
    return [ppd.CachedCase(c.name, dataset.name, cache_dir / record["cases"][c.name]["file"], dict(c.metadata or {}))
            for c in dataset.cases]


ppd.preprocess_dataset = cached_only
job = json.loads(Path(sys.argv[1]).read_text())
target = job.pop("target")
result = finetune(target, job.pop("run_dir"), **job)
print("MODEL", result.model_dir, result.epochs_done, result.steps_done, flush=True)
