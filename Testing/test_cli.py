"""The command line as a user meets it: exit codes and one-line errors."""

import subprocess
import sys

import pytest

from RadioWMHSegLib import cli, model_io
from RadioWMHSegLib.network import AttentionVNet


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "RadioWMHSegLib", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def _subcommands(parser):
    """{name: sub-parser} of a parser's subcommands, as argparse holds them."""
    import argparse

    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def test_help_lists_every_command_and_each_command_has_its_help(capsys):
    out = run_cli("--help")  # the real entry point, once
    assert out.returncode == 0
    for command in cli.COMMANDS:
        assert command in out.stdout, f"'radiowmhseg --help' does not list {command}"
    parser = cli.build_parser()
    # A command whose module is missing is left out of the parser silently: here that fails.
    assert set(_subcommands(parser)) == set(cli.COMMANDS)
    helps = [[name] for name in cli.COMMANDS]
    helps += [[name, action] for name, sub in _subcommands(parser).items() for action in _subcommands(sub)]
    assert ["dataset", "add"] in helps
    printed = {}
    for words in helps:
        with pytest.raises(SystemExit) as exited:
            cli.build_parser().parse_args([*words, "--help"])
        printed[" ".join(words)] = capsys.readouterr().out
        assert exited.value.code == 0 and printed[" ".join(words)].startswith(f"usage: radiowmhseg {' '.join(words)}")
    assert "--results" in printed["rank"]  # what rank reads


def test_missing_input_is_one_line_on_stderr_and_non_zero(tmp_path):
    out = run_cli("segment", tmp_path / "nope.nii.gz", "-o", tmp_path / "mask.nii.gz")
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.nii.gz" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "mask.nii.gz").exists()


def test_info_prints_the_card_and_the_device(tmp_path, capsys):
    net = AttentionVNet(channels=(4, 8), convs=(1, 1))
    card = model_io.new_card(net, "tiny-card", metrics={"synthetic_test": {"dsc": 0.5}})
    folder = model_io.save_model(net, card, tmp_path, "tiny")
    assert cli.main(["info", "--model", str(folder), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "tiny-card" in printed and "cpu" in printed and "dsc 0.500" in printed
    assert "version" not in printed.splitlines()[2]  # this card has no version number


def test_info_names_the_model_version(tmp_path, capsys):
    net = AttentionVNet(channels=(4, 8), convs=(1, 1))
    card = {**model_io.new_card(net, "tiny-card"), "version": 7}
    folder = model_io.save_model(net, card, tmp_path, "tiny")
    assert cli.main(["info", "--model", str(folder), "--device", "cpu"]) == 0
    assert "model: tiny-card version 7 (" in capsys.readouterr().out


def test_a_damaged_model_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "model.json").write_text("{")
    assert cli.main(["info", "--model", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not valid JSON" in err[0]


def test_cuda_asked_for_without_a_gpu_is_refused(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert cli.main(["info", "--device", "cuda"]) == 1
    assert "no CUDA GPU" in capsys.readouterr().err
