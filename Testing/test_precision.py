"""'auto' precision: on the CPU by what it computes fast, measured once and cached; fp32 on a GPU."""

import json

import pytest

from RadioWMHSegLib import precision


def _fake_timer(fp32_s, bf16_s, calls):
    def seconds_per_step(dtype_bf16, **timing):
        calls.append(dtype_bf16)
        return bf16_s if dtype_bf16 else fp32_s
    return seconds_per_step


@pytest.mark.parametrize("fp32_s, bf16_s, expected", [(1.0, 58.0, "fp32"), (2.8, 1.0, "bf16"), (1.0, 0.95, "fp32")])
def test_auto_on_cpu_follows_the_measured_speed(monkeypatch, fp32_s, bf16_s, expected):
    calls = []
    monkeypatch.setattr(precision, "_seconds_per_step", _fake_timer(fp32_s, bf16_s, calls))
    assert precision.resolve_precision("auto", "cpu") == expected
    assert set(calls) == {False, True}


def test_measurement_is_cached_per_machine(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(precision, "_seconds_per_step", _fake_timer(1.0, 58.0, calls))
    assert precision.cpu_precision() == "fp32"
    cached = json.loads((tmp_path / "radiowmhseg_home" / "precision.json").read_text(encoding="utf-8"))
    assert cached["choice"] == "fp32" and cached["bf16_s"] == 58.0
    assert precision.cpu_precision() == "fp32"
    assert len(calls) == 2  # not measured again (bf16 clearly slower: the first look decided)
    monkeypatch.setattr(precision, "_machine_key", lambda: "another machine")
    precision.cpu_precision()
    assert len(calls) == 4  # another CPU or torch: measured again
    path = tmp_path / "radiowmhseg_home" / "precision.json"
    older = dict(json.loads(path.read_text(encoding="utf-8")), probe=precision.PROBE_VERSION - 1)
    path.write_text(json.dumps(older), encoding="utf-8")
    precision.cpu_precision()
    assert len(calls) == 6  # a choice made by an older probe: measured again


@pytest.mark.parametrize("bf16_s, expected, sizes", [
    (5.0, "fp32", [32] * 3),  # emulated: 10x slower at the first look, not timed further
    (0.4, "bf16", [32] * 4 + [64] * 8),  # else the trainer's batch decides
])
def test_the_probe_is_the_projects_network_on_the_trainers_batch(monkeypatch, bf16_s, expected, sizes):
    # A toy probe chose bf16 on a CPU where this network ran 1.9x slower in it; a 64^3 patch alone was a tie.
    import torch

    from RadioWMHSegLib.network import AttentionVNet

    seen = []

    def probe_step(net, x, dtype_bf16):
        seen.append((type(net), tuple(x.shape), x.is_contiguous(memory_format=torch.channels_last_3d), dtype_bf16))
        return bf16_s if dtype_bf16 else 0.5

    monkeypatch.setattr(precision, "_probe_step", probe_step)
    measured = precision.measure_cpu_precision()
    assert measured["choice"] == expected and measured["bf16_s"] == bf16_s and measured["size"] == sizes[-1]
    assert [s[1] for s in seen] == [(2, 1, n, n, n) for n in sizes]
    assert all(s[0] is AttentionVNet and s[2] for s in seen)
    # Each size: fp32's warm-up and its timed steps, then bf16's; bf16 stops at a warm-up 10x fp32's step.
    bf16_steps = [s[3] for s in seen]
    assert bf16_steps == ([False, False, True] if expected == "fp32" else [False, False, True, True]
                          + [False] * 4 + [True] * 4)


def test_explicit_choices_pass_and_unknown_is_refused():
    from RadioWMHSegLib.errors import InputError

    assert precision.resolve_precision("fp32", "cpu") == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(InputError, match="unknown precision"):
        precision.resolve_precision("fp16", "cpu")


def test_real_measurement_returns_a_choice():
    measured = precision.measure_cpu_precision()
    assert measured["choice"] in ("fp32", "bf16")
    assert measured["fp32_s"] > 0 and measured["bf16_s"] > 0


def test_auto_on_a_gpu_is_fp32_even_where_bf16_is_supported(monkeypatch):
    import torch

    calls = []
    monkeypatch.setattr(precision, "_seconds_per_step", _fake_timer(2.8, 1.0, calls))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert precision.resolve_precision("auto", torch.device("cuda")) == "fp32"
    assert precision.resolve_precision("bf16", torch.device("cuda")) == "bf16"  # asked for: given
    assert calls == []  # the CPU's timing says nothing about a GPU
