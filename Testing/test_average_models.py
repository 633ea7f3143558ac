"""benchmarks/average_models.py: the uniform weight average ("model soup") of models fine-tuned from one parent."""

import sys
from pathlib import Path

import pytest

from RadioWMHSegLib import model_io
from RadioWMHSegLib.network import AttentionVNet

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import average_models  # noqa: E402  (after the path)

PARENT = {"name": "parent", "path": "parent", "weights_sha256": "a" * 64}


def _saved(tmp_path, name, seed, parent=PARENT, channels=(4, 8, 16)):
    import torch

    torch.manual_seed(seed)
    net = AttentionVNet(channels=channels, convs=(1,) * len(channels))
    card = model_io.new_card(net, name, parent=parent, training={"recipe": {"seed": seed}},
                             metrics={"validation_dice": seed / 10})
    return model_io.save_model(net, card, tmp_path, name), net


def test_the_average_holds_the_mean_of_every_weight_and_names_the_models_it_came_from(tmp_path):
    import torch

    (path_a, net_a), (path_b, net_b) = _saved(tmp_path, "a", 1), _saved(tmp_path, "b", 2)
    soup = average_models.average_models([path_a, path_b], tmp_path / "out", "soup")
    loaded = model_io.load_model(soup)
    state_a, state_b = net_a.state_dict(), net_b.state_dict()
    for key, tensor in loaded.net.state_dict().items():
        assert torch.allclose(tensor, (state_a[key] + state_b[key]) / 2, atol=1e-7), key
    assert any(not torch.equal(state_a[key], state_b[key]) for key in state_a)  # two different networks
    card = loaded.card
    assert [entry["seed"] for entry in card["averaged_from"]] == [1, 2]
    assert card["parent"] == PARENT and card["name"] == "soup"
    assert card["weights_sha256"] == model_io.sha256_of(soup / model_io.WEIGHTS_FILE)
    assert (path_a / model_io.WEIGHTS_FILE).exists() and (path_b / model_io.WEIGHTS_FILE).exists()


def test_models_from_other_parents_or_architectures_are_refused(tmp_path):
    path_a, _ = _saved(tmp_path, "a", 1)
    other_parent, _ = _saved(tmp_path, "b", 2, parent={**PARENT, "weights_sha256": "b" * 64})
    with pytest.raises(ValueError, match="same parent"):
        average_models.average_models([path_a, other_parent], tmp_path / "out", "soup")
    wider, _ = _saved(tmp_path, "c", 3, channels=(4, 8, 32))
    with pytest.raises(ValueError, match="architecture"):
        average_models.average_models([path_a, wider], tmp_path / "out", "soup")
    assert not (tmp_path / "out" / "soup").exists()


def test_a_model_averages_with_its_own_parent_but_not_with_its_grandparent(tmp_path):
    import torch

    grand = {**PARENT, "weights_sha256": "g" * 64}
    parent_path, parent_net = _saved(tmp_path, "parent", 1, parent=grand)
    parent_card = model_io.read_card(parent_path)
    child_path, child_net = _saved(tmp_path, "child", 2, parent={"name": "parent", "path": str(parent_path),
                                                                 "weights_sha256": parent_card["weights_sha256"]})
    halfway = average_models.average_models([child_path, parent_path], tmp_path / "out", "wise")
    weights = torch.load(halfway / model_io.WEIGHTS_FILE, weights_only=True)
    key = next(k for k, v in child_net.state_dict().items() if v.is_floating_point())
    assert torch.allclose(weights[key], (child_net.state_dict()[key] + parent_net.state_dict()[key]) / 2)
    assert model_io.read_card(halfway)["parent"]["weights_sha256"] == parent_card["weights_sha256"]
    parent_first = average_models.average_models([parent_path, child_path], tmp_path / "out", "wise2")
    assert model_io.read_card(parent_first)["parent"]["weights_sha256"] == parent_card["weights_sha256"]
    # a sibling of the parent (fine-tuned from the grandparent) is neither a sibling nor the parent of the child
    uncle_path, _ = _saved(tmp_path, "uncle", 3, parent=grand)
    with pytest.raises(ValueError, match="same parent"):
        average_models.average_models([child_path, uncle_path], tmp_path / "out", "mixed")


def test_integer_buffers_must_agree_and_float_weights_are_averaged():
    import torch

    states = [{"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(4)},
              {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(4)}]
    averaged = average_models.average_state_dicts(states)
    assert torch.equal(averaged["w"], torch.tensor([2.0, 4.0])) and int(averaged["n"]) == 4
    states[1]["n"] = torch.tensor(5)
    with pytest.raises(ValueError, match="integer buffer 'n'"):
        average_models.average_state_dicts(states)


def test_a_folder_that_is_not_a_model_is_refused_in_one_line(tmp_path):
    import subprocess

    path_a, _ = _saved(tmp_path, "a", 1)
    command = [sys.executable, str(BENCHMARKS / "average_models.py"), str(path_a), str(tmp_path / "none"),
               "-o", str(tmp_path / "out"), "--name", "soup"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and "no model card" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
