import json

import pytest

from RadioWMHSegLib import model_io
from RadioWMHSegLib.errors import ModelError
from RadioWMHSegLib.network import AttentionVNet


def small_net():
    return AttentionVNet(channels=(4, 8, 16), convs=(1, 1, 1))


def test_save_then_load_gives_the_same_weights(tmp_path):
    import torch

    net = small_net()
    folder = model_io.save_model(net, model_io.new_card(net, "unit"), tmp_path, "unit")
    loaded = model_io.load_model(folder)
    for (name, a), (_, b) in zip(net.state_dict().items(), loaded.net.state_dict().items()):
        assert torch.equal(a, b), name
    assert loaded.card["architecture"]["config"]["channels"] == [4, 8, 16]
    assert len(loaded.card["weights_sha256"]) == 64


def test_subnormal_weights_load_as_zero(tmp_path):
    # Subnormal floats cost a microcode assist per product on Intel CPUs (HD-BET's made a scan 25x slower).
    import torch

    net = small_net()
    tiny = torch.finfo(torch.float32).tiny
    with torch.no_grad():
        first = next(net.parameters())
        first.view(-1)[:3] = torch.tensor([tiny / 4, -tiny / 16, 2 * tiny])
    folder = model_io.save_model(net, model_io.new_card(net, "unit"), tmp_path, "unit")
    loaded = next(model_io.load_model(folder).net.parameters())
    assert loaded.view(-1)[:3].tolist() == [0.0, 0.0, 2 * tiny]
    assert torch.equal(loaded.view(-1)[3:], first.view(-1)[3:])


def test_saving_twice_never_replaces_a_model(tmp_path):
    net = small_net()
    first = model_io.save_model(net, model_io.new_card(net, "unit"), tmp_path, "unit")
    before = (first / model_io.WEIGHTS_FILE).read_bytes()
    second = model_io.save_model(small_net(), model_io.new_card(net, "unit"), tmp_path, "unit")
    assert second != first and second.name == "unit_v2"
    assert (first / model_io.WEIGHTS_FILE).read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_missing_corrupt_and_mismatched_models_fail_clearly(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        model_io.load_model(tmp_path / "nowhere")
    net = small_net()
    folder = model_io.save_model(net, model_io.new_card(net, "unit"), tmp_path, "unit")

    weights = folder / model_io.WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="SHA-256"):
        model_io.load_model(folder)

    card = json.loads((folder / model_io.CARD_FILE).read_text(encoding="utf-8"))
    card.pop("weights_sha256")
    (folder / model_io.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="cannot be read"):
        model_io.load_model(folder)

    weights.write_bytes(data)
    card["architecture"]["config"]["channels"] = [8, 16, 32]
    (folder / model_io.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="do not fit"):
        model_io.load_model(folder)

    (folder / model_io.CARD_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        model_io.load_model(folder)


def test_the_bundled_folder_is_never_written(tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    monkeypatch.setenv("RADIOWMHSEG_BUNDLED_MODEL", str(bundled))
    net = small_net()
    with pytest.raises(ModelError, match="bundled"):
        model_io.save_model(net, model_io.new_card(net, "x"), bundled, "x")


def test_user_models_are_listed_after_the_bundled_one(tmp_path):
    net = small_net()
    model_io.save_model(net, model_io.new_card(net, "mine"), None, "mine")  # default: user folder
    names = [card["name"] for _, card in model_io.list_models()]
    assert "mine" in names
