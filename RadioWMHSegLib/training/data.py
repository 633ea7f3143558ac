"""A run's training data: its datasets cached once (rank 0 fills the cache), split into training and validation
cases, and served as patches that are a pure function of (seed, epoch, rank, index), so resume is exact.
"""

from pathlib import Path

import numpy as np

from .. import safe_write
from ..errors import DatasetError
from . import distributed
from .augmentation import Augmenter, margin_for
from .sampling import prepare_case, sample_region


def _load_dataset(path):
    from ..datasets import load_dataset

    return load_dataset(path)


def _latest_versions(dataset, report=True):
    """The dataset with only the latest correction of each case (dataset_split.latest_versions): a case
    exported three times is trained on once and prepared once."""
    import dataclasses

    from ..dataset_split import latest_versions

    kept, left_out = latest_versions(dataset.cases)
    if left_out and report:
        print(f"{dataset.name}: {len(left_out)} older version(s) of a case left out, the latest correction used "
              f"({', '.join(c.name for c in left_out)})", flush=True)
    return dataclasses.replace(dataset, cases=kept)


def _cache_dir(config, dataset):
    if config.cache_root is None:
        return None
    return Path(config.cache_root) / safe_write.safe_name(dataset.name)


def preprocess_all(config, context, progress):
    """[(role, Dataset, [CachedCase])]; rank 0 fills the cache, the others then read it."""
    from .preprocess_dataset import preprocess_dataset

    entries = [("target", p) for p in config.datasets] + [("source", p) for p in config.source_datasets]
    loaded = [(role, _load_dataset(path)) for role, path in entries]
    latest = [_latest_versions(dataset, report=context.is_main) for _, dataset in loaded]
    if context.is_main:
        for dataset in latest:
            preprocess_dataset(dataset, _cache_dir(config, dataset), grid=config.grid, progress=progress)
    distributed.barrier(context)
    # The whole dataset goes on beside its latest cases: its splits.json names every version.
    return [(role, ds, preprocess_dataset(kept, _cache_dir(config, ds), grid=config.grid))
            for (role, ds), kept in zip(loaded, latest)]


def split_cases(config, prepared):
    """(training [(role, dataset, CachedCase)], validation [CachedCase], prepared): the last val_cases of
    dataset 1, or with config.fold the train and val cases of that fold of its splits.json (dataset_split.py).
    With config.val_on_unused the validation cases are those that first_cases leaves out of training instead."""
    first_cases, fold_val = prepared[0][2], None
    if config.fold is not None:
        from ..dataset_split import fold_case_names

        train_names, val_names = fold_case_names(prepared[0][1], config.fold)
        by_name = {c.name: c for c in first_cases}  # older versions are not there: splits keep versions together
        first_cases = [by_name[n] for n in train_names if n in by_name]
        fold_val = [by_name[n] for n in val_names if n in by_name]
    if config.first_cases is not None:
        if config.first_cases > len(first_cases):
            raise DatasetError(f"dataset {prepared[0][1].name} has {len(first_cases)} training cases, fewer than the "
                               f"{config.first_cases} asked for")
        first_cases, unused = first_cases[:config.first_cases], first_cases[config.first_cases:]
        if config.val_on_unused:
            fold_val = unused[:config.val_cases]
    elif config.val_on_unused:
        fold_val = []
    prepared = [(prepared[0][0], prepared[0][1], first_cases)] + list(prepared[1:])
    if fold_val is not None:
        return [(r, ds, c) for r, ds, cases in prepared for c in cases], fold_val if config.val_cases else [], prepared
    n_val = config.val_cases
    if n_val >= len(first_cases):
        raise DatasetError(
            f"dataset {prepared[0][1].name} has {len(first_cases)} cases, too few to hold out {n_val} for "
            "validation and still train: lower --val-cases"
        )
    validation = first_cases[len(first_cases) - n_val:] if n_val else []
    held_out = {id(c) for c in validation}
    training = [(role, ds, c) for role, ds, cases in prepared for c in cases if id(c) not in held_out]
    return training, validation, prepared


def foreground_labels(label2):
    """The labels patches centre on as lesions: WMH, and other pathology when it is trained as lesion."""
    return (1, 2) if label2 in ("foreground", "class") else (1,)


def _dataset_key(dataset):
    return f"{dataset.name}@{dataset.path}"


def load_training_cases(training, label2):
    """{dataset key: [TrainingCase]} held in memory for sampling."""
    by_dataset = {}
    for _, dataset, cached in training:
        image, label, brain_mask = cached.load()
        key = _dataset_key(dataset)
        by_dataset.setdefault(key, []).append(
            prepare_case(cached.name, dataset.name, image, label, brain_mask, foreground_labels(label2))
        )
    return by_dataset


def dataset_weights(training, target_share):
    """{dataset key: probability of drawing it}: target_share spread equally over the target datasets, the rest
    over the source ones; None (every dataset drawn equally) when target_share is None or there is no source."""
    roles = {_dataset_key(dataset): role for role, dataset, _ in training}
    targets = [k for k, role in roles.items() if role == "target"]
    sources = [k for k, role in roles.items() if role == "source"]
    if target_share is None or not sources or not targets:
        return None
    weights = {k: target_share / len(targets) for k in targets}
    weights.update({k: (1.0 - target_share) / len(sources) for k in sources})
    return weights


class PatchDataset:
    """Map-style dataset whose item i of (epoch, rank) is a pure function of (seed, epoch, rank, i)."""

    def __init__(self, cases_by_dataset, config, epoch, rank, weights=None):
        self.cases_by_dataset = cases_by_dataset
        self.weights = weights
        self.config = config
        self.epoch = epoch
        self.rank = rank
        self.augmenter = Augmenter(config.patch_size, config.augmentation, enabled=config.augment)
        margin = margin_for(config.patch_size, self.augmenter.settings) if config.augment else (0, 0, 0)
        self.region = tuple(p + 2 * m for p, m in zip(config.patch_size, margin))

    def __len__(self):
        return self.config.steps_per_epoch * self.config.batch_size

    def __getitem__(self, index):
        import torch

        rng = np.random.default_rng([self.config.seed, self.epoch, self.rank, index])
        image, label, _ = sample_region(self.cases_by_dataset, self.region, rng, self.config.lesion_fraction,
                                      self.weights)
        image, label = self.augmenter(image, label, rng.integers(2**32))
        return torch.from_numpy(image[None]), torch.from_numpy(label[None])


def _worker_init(_):
    import torch

    torch.set_num_threads(1)


def patch_loader(cases_by_dataset, config, epoch, rank, num_workers, weights=None):
    """The DataLoader of one epoch's patches, in a fixed order (no shuffling: the order is in the seed)."""
    from torch.utils.data import DataLoader

    return DataLoader(PatchDataset(cases_by_dataset, config, epoch, rank, weights), batch_size=config.batch_size,
                      shuffle=False, num_workers=num_workers, worker_init_fn=_worker_init if num_workers else None,
                      drop_last=True)
