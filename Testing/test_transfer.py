"""Transfer strategies: what is frozen stays bit-identical, what trains changes, the source is never touched."""

import hashlib

import pytest

from RadioWMHSegLib.choices import STRATEGY_LR
from tiny_datasets import TINY_NET, make_tiny_dataset, tiny_model_folder, tiny_options


def _sha256_of_folder(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def target_dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("target") / "target", 3, seed=2, phenotype="target")


@pytest.fixture
def source_model(tmp_path):
    return tiny_model_folder(tmp_path / "models")


def _finetune(strategy, target_dataset, source_model, tmp_path, **extra):
    from RadioWMHSegLib.training.finetune import finetune

    options = tiny_options(epochs=1, steps_per_epoch=2, val_cases=0, cache_root=tmp_path / "cache")
    options.pop("channels"), options.pop("convs")  # the architecture comes from the source model
    options.update(extra)
    return finetune(target_dataset, tmp_path / f"run_{strategy}", source_model=source_model, strategy=strategy,
                    **options)


def _states(source_model, result_model):
    from RadioWMHSegLib import model_io

    before = model_io.load_model(source_model).net
    after = model_io.load_model(result_model).net
    return before, after


def _parameter_names(modules, net):
    wanted = {id(p) for module in modules for p in module.parameters()}
    return {name for name, p in net.named_parameters() if id(p) in wanted}


@pytest.mark.parametrize("strategy", ["decoder", "last"])
def test_frozen_parameters_stay_bit_identical_and_trained_ones_change(strategy, target_dataset, source_model,
                                                                      tmp_path):
    import torch

    source_files = _sha256_of_folder(source_model)
    result = _finetune(strategy, target_dataset, source_model, tmp_path)
    before, after = _states(source_model, result.model_dir)
    trained_modules = after.last_layers() if strategy == "last" else None
    if strategy == "decoder":
        frozen = _parameter_names(after.encoder_modules(), after)
    else:
        frozen = {n for n, _ in after.named_parameters()} - _parameter_names(trained_modules, after)
    trained = {n for n, _ in after.named_parameters()} - frozen
    assert frozen and trained
    old, new = dict(before.named_parameters()), dict(after.named_parameters())
    for name in frozen:
        assert torch.equal(old[name], new[name]), f"{name} changed under '{strategy}'"
    start = old
    if strategy == "last":
        # The trainer seeds, loads the source and re-initialises the last layers: the start of training.
        from RadioWMHSegLib.training.transfer import apply_strategy, initial_network

        torch.manual_seed(tiny_options()["seed"])
        reinitialised, _ = initial_network("last", None, source_model)
        apply_strategy(reinitialised, "last")
        start = dict(reinitialised.named_parameters())
        assert any(not torch.equal(start[n], old[n]) for n in trained)  # re-initialised indeed
    changed = [name for name in trained if not torch.equal(start[name], new[name])]
    # Every trained tensor moves (PReLU slopes included); at least nearly all of them must.
    assert len(changed) >= len(trained) - 1, sorted(set(trained) - set(changed))
    assert _sha256_of_folder(source_model) == source_files


def test_fine_tuned_model_is_a_new_versioned_model_naming_its_parent(target_dataset, source_model, tmp_path):
    from RadioWMHSegLib import model_io

    source_files = _sha256_of_folder(source_model)
    source_card = model_io.read_card(source_model)
    first = _finetune("all", target_dataset, source_model, tmp_path)
    assert first.model_dir.parent == model_io.user_models_dir()  # the default place
    card = model_io.read_card(first.model_dir)
    assert card["parent"]["name"] == "tiny-source"
    assert card["parent"]["weights_sha256"] == source_card["weights_sha256"]
    assert card["parent"]["path"] == source_model.name  # its folder's name, not this machine's path
    assert card["training"]["recipe"]["strategy"] == "all" and card["training"]["recipe"]["lr"] == STRATEGY_LR["all"]
    assert card["training"]["datasets"][0]["phenotypes"] == {"target": 3}
    second = _finetune("all", target_dataset, source_model, tmp_path / "again")
    assert second.model_dir != first.model_dir and second.model_dir.name.endswith("_v2")
    assert _sha256_of_folder(source_model) == source_files
    assert model_io.load_model(first.model_dir).card["weights_sha256"] == card["weights_sha256"]


def test_scratch_and_mixed_start_from_random_weights_with_the_source_architecture(target_dataset, source_model,
                                                                                  tmp_path):
    from RadioWMHSegLib import model_io

    source = make_tiny_dataset(tmp_path / "source", 2, seed=9, phenotype="source")
    scratch = _finetune("scratch", target_dataset, source_model, tmp_path)
    mixed = _finetune("mixed", target_dataset, source_model, tmp_path, source_datasets=[source])
    for result in (scratch, mixed):
        card = model_io.read_card(result.model_dir)
        assert card["parent"] is None
        assert card["architecture"]["config"]["channels"] == list(TINY_NET["channels"])
    datasets = model_io.read_card(mixed.model_dir)["training"]["datasets"]
    assert [(d["role"], d["cases"]) for d in datasets] == [("target", 3), ("source", 2)]


def test_all_can_keep_training_on_source_data_and_learn_a_third_class(target_dataset, source_model, tmp_path,
                                                                      capsys):
    """'all' with source datasets: the source weights are the start (a 2-class model lends its WMH channel),
    both datasets are trained on, and the card names them: how the bundled 3-class model is made."""
    from RadioWMHSegLib import model_io

    source = make_tiny_dataset(tmp_path / "source", 2, seed=9, phenotype="source")
    result = _finetune("all", target_dataset, source_model, tmp_path, source_datasets=[source], label2="class")
    card = model_io.read_card(result.model_dir)
    assert card["parent"]["name"] == "tiny-source"
    assert card["architecture"]["config"]["out_channels"] == 3 and card["labels"][-1] == "other_pathology"
    datasets = card["training"]["datasets"]
    assert [(d["role"], d["cases"]) for d in datasets] == [("target", 3), ("source", 2)]
    assert datasets[1]["case_names"] == ["case_000", "case_001"]  # the card names every case it trained on
    assert card["training"]["recipe"]["target_share"] is None  # each dataset drawn equally: the default
    capsys.readouterr()
    shared = _finetune("all", target_dataset, source_model, tmp_path / "shared", source_datasets=[source],
                       label2="class", target_share=0.75)
    assert model_io.read_card(shared.model_dir)["training"]["recipe"]["target_share"] == 0.75
    assert "patches drawn from: source 25%, target 75%" in capsys.readouterr().out

    # Fine-tuned again without saying how to treat label 2 (as the Slicer panel does): it stays a 3-class model,
    # and trains on synthetic gliomas beside the target cases, which show no tumour, so as not to forget label 2.
    again = _finetune("all", target_dataset, result.model_dir, tmp_path / "again", pathology_replay=1)
    card = model_io.read_card(again.model_dir)
    assert card["training"]["recipe"]["label2"] == "class" and card["labels"][-1] == "other_pathology"
    replayed = [d for d in card["training"]["datasets"] if d["name"] == "pathology_replay"]
    assert [(d["role"], d["cases"], d["phenotypes"]) for d in replayed] == [("source", 1, {"glioma": 1})]
    # ... while a 2-class source gives a 2-class model, as before.
    plain = model_io.read_card(_finetune("all", target_dataset, source_model, tmp_path / "plain").model_dir)
    assert plain["training"]["recipe"]["label2"] == "background" and plain["labels"] == ["background", "WMH"]


def test_a_3_class_model_replays_synthetic_gliomas_only_where_nothing_else_shows_a_tumour():
    from RadioWMHSegLib.choices import PATHOLOGY_REPLAY
    from RadioWMHSegLib.errors import InputError
    from RadioWMHSegLib.training.finetune import replay_cases

    # The default: a 3-class model fine-tuned on the target alone would learn that label 2 never occurs.
    assert replay_cases(None, "class", "all", ()) == PATHOLOGY_REPLAY["cases"] > 0
    assert replay_cases(None, "class", "decoder", ()) == PATHOLOGY_REPLAY["cases"]
    assert replay_cases(None, "class", "all", ["gliomas"]) == 0        # the caller's own source data does it
    assert replay_cases(None, "background", "all", ()) == 0            # a 2-class model has no label 2 to keep
    assert replay_cases(None, "class", "scratch", ()) == 0             # no weights kept, nothing to forget
    assert replay_cases(0, "class", "all", ()) == 0 and replay_cases(3, "class", "all", ["x"]) == 3
    with pytest.raises(InputError, match="label 2 as a class"):
        replay_cases(4, "background", "all", ())
    with pytest.raises(InputError, match="scratch"):
        replay_cases(4, "class", "scratch", ())
    with pytest.raises(InputError, match="must be 0"):
        replay_cases(-1, "class", "all", ())


def test_frozen_parts_stay_in_eval_mode_while_training():
    from RadioWMHSegLib.network import AttentionVNet
    from RadioWMHSegLib.training.transfer import apply_strategy, set_train_mode

    net = AttentionVNet(dropout=0.3, **TINY_NET)
    frozen = apply_strategy(net, "decoder")
    set_train_mode(net, frozen)
    assert net.training and all(not m.training for f in frozen for m in f.modules())
    assert all(m.training for m in net.decoder.modules())
    assert not any(p.requires_grad for f in frozen for p in f.parameters())


def test_bad_strategy_choices_are_clear_errors(target_dataset, source_model, tmp_path):
    from RadioWMHSegLib.errors import InputError, ModelError
    from RadioWMHSegLib.training.finetune import finetune

    with pytest.raises(InputError, match="strategy"):
        finetune(target_dataset, tmp_path / "r1", source_model=source_model, strategy="everything")
    with pytest.raises(InputError, match="source dataset"):
        finetune(target_dataset, tmp_path / "r2", source_model=source_model, strategy="mixed")
    with pytest.raises(InputError, match="'scratch' trains on the target cases alone"):
        finetune(target_dataset, tmp_path / "r4", source_model=source_model, strategy="scratch",
                 source_datasets=[target_dataset])
    with pytest.raises(ModelError):
        finetune(target_dataset, tmp_path / "r3", source_model=tmp_path / "no_model", strategy="all")
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3", "r4"))  # nothing written


def test_finetune_command_writes_a_model_and_reports_errors_in_one_line(target_dataset, source_model, tmp_path,
                                                                         capsys):
    from RadioWMHSegLib import model_io
    from RadioWMHSegLib.cli import main

    common = ["--epochs", "1", "--steps-per-epoch", "1", "--patch-size", "16", "--val-cases", "0", "--grid",
              "as_is", "--precision", "fp32", "--no-channels-last", "--no-progress", "--device", "cpu",
              "--cache-dir", str(tmp_path / "cache"), "--models-dir", str(tmp_path / "mine")]
    code = main(["finetune", str(target_dataset), "-o", str(tmp_path / "run"), "--from", str(source_model),
                 "--strategy", "decoder"] + common)
    assert code == 0
    (model_dir,) = [p for p in (tmp_path / "mine").iterdir() if not p.name.startswith(".")]
    assert model_dir.name == "tiny-source-decoder"
    assert model_io.read_card(model_dir)["training"]["recipe"]["strategy"] == "decoder"
    out = capsys.readouterr().out
    assert "fine-tuned model:" in out and "(no validation cases: the last weights were kept)" in out and "nan" not in out
    code = main(["finetune", str(target_dataset), "-o", str(tmp_path / "run2"), "--from", str(tmp_path / "none")]
                + common)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("radiowmhseg: error:") and len(err.strip().splitlines()) == 1
    # A share that cannot be met is refused before the pathology replay is made or anything is written.
    code = main(["finetune", str(target_dataset), "-o", str(tmp_path / "run3"), "--from", str(source_model),
                 "--label2", "class", "--pathology-replay", "1", "--target-share", "2"] + common)
    err = capsys.readouterr().err
    assert code == 1 and "target share 2.0 must lie between 0 and 1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run3").exists()


def test_one_corrected_case_fine_tunes_without_validation_and_more_hold_one_out(source_model, tmp_path, capsys):
    from RadioWMHSegLib import model_io

    single = make_tiny_dataset(tmp_path / "one", 1, seed=5)
    result = _finetune("all", single, source_model, tmp_path / "a", val_cases=None)
    card = model_io.read_card(result.model_dir)
    assert card["training"]["validation_cases"] == [] and card["training"]["datasets"][0]["cases"] == 1
    assert "none held out for validation" in capsys.readouterr().out
    two = make_tiny_dataset(tmp_path / "two", 2, seed=6)
    card = model_io.read_card(_finetune("all", two, source_model, tmp_path / "b", val_cases=None).model_dir)
    assert card["training"]["validation_cases"] == ["case_001"]
