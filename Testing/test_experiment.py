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


@pytest.mark.slow
def test_fold_experiment_with_patience_validates_on_unused_training_cases_only(tmp_path):
    import json

    from RadioWMHSegLib.dataset_split import make_splits
    from RadioWMHSegLib.training.experiment import run_cross_validation
    from RadioWMHSegLib.training.trainer import pretrain

    source = make_tiny_dataset(tmp_path / "source", 2, seed=21)
    target = make_tiny_dataset(tmp_path / "target", 5, seed=22)
    folds = make_splits(target, folds=5, seed=0)["folds"]
    # Leave-one-out folds rotate their training order, so "the first N" differs from fold to fold.
    assert len({f["train"][0] for f in folds}) == 5
    assert all(set(f["train"]) | set(f["val"]) == {f"case_{i:03d}" for i in range(5)} for f in folds)
    pretrain_options, finetune_options = _options(tmp_path)
    source_model = pretrain([source], tmp_path / "pre", model_name="src", val_cases=0, device="cpu",
                            **dict(pretrain_options, epochs=1)).model_dir
    out = tmp_path / "experiment"
    table = run_cross_validation([], target, out, n_train=(4, 1), strategies=("all", "last"), pretrained=source_model,
                                 finetune_options=dict(finetune_options, epochs=3, patience=1), device="cpu",
                                 only_folds=[1])
    assert sorted(p.name for p in out.glob("fold_*")) == ["fold_1"]
    runs = out / "fold_1" / "runs"
    test_case = folds[1]["val"]
    for strategy in ("all", "last"):
        small = json.loads((runs / f"N1_{strategy}" / "evaluation.json").read_text(encoding="utf-8"))
        large = json.loads((runs / f"N4_{strategy}" / "evaluation.json").read_text(encoding="utf-8"))
        card = json.loads((runs / f"N1_{strategy}" / f"N1_{strategy}" / "model.json").read_text(encoding="utf-8"))
        # N = 1 validates on the three training cases it leaves unused, never on the test case.
        assert small["validation_cases"] == 3
        assert card["training"]["validation_cases"] == folds[1]["train"][1:]
        assert [c["case"] for c in small["test_cases"]] == test_case
        # N = 4 has none left: it trains as long as the validated N = 1 run's best epoch.
        assert large["validation_cases"] == 0 and large["epochs_done"] == small["best_epoch"]
    # The pooled tables hold every finished fold, marked with its number.
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 4 and {r["fold"] for r in rows} == {"1"} and {r["case"] for r in rows} == set(test_case)
    assert {r["steps"] for r in rows if r["n_train"] == "1"} <= {"1", "2", "3"}
    assert "| steps |" in table.read_text(encoding="utf-8")


def test_cross_validation_needs_folds(tmp_path):
    from RadioWMHSegLib.errors import DatasetError
    from RadioWMHSegLib.training.experiment import run_cross_validation

    target = make_tiny_dataset(tmp_path / "target", 3, seed=1)
    with pytest.raises(DatasetError, match="dataset split"):
        run_cross_validation([], target, tmp_path / "out", pretrained=tmp_path / "any")
    assert not (tmp_path / "out").exists()
