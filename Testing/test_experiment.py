"""The published experiment: every strategy and training size scored, tables written, resumable."""

import csv

import pytest

from RadioWMHSegLib.choices import STRATEGIES
from tiny_datasets import make_tiny_dataset, tiny_options


def _options(tmp_path):
    options = tiny_options(epochs=1, steps_per_epoch=1, cache_root=tmp_path / "cache")
    for session_only in ("device", "val_cases"):
        options.pop(session_only)
    pretrain_options = dict(options)
    finetune_options = {k: v for k, v in options.items() if k not in ("channels", "convs")}
    return pretrain_options, finetune_options


@pytest.mark.slow
def test_experiment_scores_every_strategy_and_size_and_resumes(tmp_path):
    from RadioWMHSegLib.errors import InputError
    from RadioWMHSegLib.training.experiment import run_experiment

    source = make_tiny_dataset(tmp_path / "source", 3, seed=11, phenotype="source")
    target = make_tiny_dataset(tmp_path / "target", 5, seed=12, phenotype="target")
    pretrain_options, finetune_options = _options(tmp_path)
    out = tmp_path / "experiment"
    table = run_experiment([source], target, out, n_train=(2, 3), n_test=2, strategies=STRATEGIES,
                           pretrain_options=dict(pretrain_options, val_cases=1),
                           finetune_options=finetune_options, device="cpu")
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 * len(STRATEGIES) * 2  # sizes x strategies x test cases
    assert {r["case"] for r in rows} == {"case_003", "case_004"}  # the last n_test target cases
    assert all(0.0 <= float(r["dsc"]) <= 1.0 for r in rows)
    summary = list(csv.DictReader((out / "table.csv").open()))
    assert {(int(r["n_train"]), r["strategy"]) for r in summary} == {(n, s) for n in (2, 3) for s in STRATEGIES}
    assert all(r["n_cases"] == "2" for r in summary)
    markdown = table.read_text(encoding="utf-8")
    for strategy in STRATEGIES:
        assert f"| 2 | {strategy} |" in markdown and f"| 3 | {strategy} |" in markdown
    assert "±" in markdown and "hd95" in markdown and "lesion_f1" in markdown
    assert (out / "dsc_boxplot.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "pretrain" / "pretrained" / "model.json").is_file()

    # Rerun: every finished run is skipped (nothing retrained, nothing re-scored).
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*")}
    run_experiment([source], target, out, n_train=(2, 3), n_test=2, strategies=STRATEGIES,
                   pretrain_options=dict(pretrain_options, val_cases=1), finetune_options=finetune_options,
                   device="cpu")
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*")} == stamps
    assert list(csv.DictReader((out / "results.csv").open())) == rows

    with pytest.raises(InputError, match="other settings"):
        run_experiment([source], target, out, n_train=(2, 4), n_test=1, strategies=STRATEGIES,
                       pretrain_options=pretrain_options, finetune_options=finetune_options, device="cpu")


def test_experiment_refuses_a_target_too_small_for_its_split(tmp_path):
    from RadioWMHSegLib.errors import DatasetError
    from RadioWMHSegLib.training.experiment import run_experiment

    target = make_tiny_dataset(tmp_path / "target", 3, seed=1)
    with pytest.raises(DatasetError, match="needs 5"):
        run_experiment([target], target, tmp_path / "out", n_train=(2, 3), n_test=2)
    assert not (tmp_path / "out").exists()
