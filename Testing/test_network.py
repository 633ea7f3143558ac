import torch

from RadioWMHSegLib.inference import predict_probability
from RadioWMHSegLib.network import AttentionVNet


def test_output_keeps_the_input_shape_and_has_two_classes():
    net = AttentionVNet(channels=(4, 8, 16, 32), convs=(1, 2, 2, 2), dropout=0.2).eval()
    x = torch.randn(1, 1, 32, 48, 40)
    with torch.no_grad():
        assert net(x).shape == (1, 2, 32, 48, 40)


def test_attention_gates_sit_on_every_skip_and_dropout_is_available():
    net = AttentionVNet(channels=(4, 8, 16, 32), convs=(1, 1, 1, 1), dropout=0.3)
    assert len(net.gates) == 3
    assert any(isinstance(m, torch.nn.Dropout3d) for m in net.modules())


def test_prediction_is_deterministic_and_any_shape_is_accepted():
    import numpy as np

    torch.manual_seed(0)
    net = AttentionVNet(channels=(4, 8, 16), convs=(1, 1, 1)).eval()
    array = np.random.default_rng(0).normal(size=(21, 30, 17)).astype(np.float32)
    first = predict_probability(net, array)
    assert first.shape == array.shape and first.dtype == np.float32
    assert np.array_equal(first, predict_probability(net, array))
    assert np.all((first >= 0) & (first <= 1))
    with_flips = predict_probability(net, array, tta=True)
    assert with_flips.shape == array.shape
