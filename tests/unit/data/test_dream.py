import pytest
import torch
from torch import nn

import slimtorch as st


def _net() -> nn.Module:
    """A small conv classifier whose BatchNorm statistics come from inputs far from noise (mean 2, std 0.3)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    net.train()
    with torch.no_grad():
        for _ in range(50):
            net(2 + 0.3 * torch.randn(32, 1, 12, 12))
    return net.eval()


def _mismatch(net: nn.Module, x: torch.Tensor) -> float:
    """Summed distance of the batch's per-channel mean/variance to every BatchNorm's running statistics."""
    total, hooks = [], []
    for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        def hook(mod, inputs, _out):
            a = inputs[0]
            total.append(float((a.mean((0, 2, 3)) - mod.running_mean).norm()
                               + (a.var((0, 2, 3), unbiased=False) - mod.running_var).norm()))
        hooks.append(bn.register_forward_hook(hook))
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return sum(total)


def test_dreamed_inputs_match_the_batchnorm_statistics_far_better_than_noise():
    net = _net()
    data = st.data.dream(net, 32, (1, 12, 12), steps=150, batch_size=32)
    noise = torch.randn(32, 1, 12, 12)
    assert data.x.shape == (32, 1, 12, 12) and data.name == "dreamed"
    assert torch.equal(data.y, torch.full((32,), -1))
    assert _mismatch(net, data.x) < 0.25 * _mismatch(net, noise)
    assert abs(float(data.x.mean()) - 2) < 0.5  # the first layer's statistics pull the inputs to their mean


def test_same_seed_same_inputs_and_the_model_is_left_as_it_was():
    net = _net()
    net.train()
    net[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    a = st.data.dream(net, 6, (1, 12, 12), steps=5, batch_size=4, seed=3)
    b = st.data.dream(net, 6, (1, 12, 12), steps=5, batch_size=4, seed=3)
    c = st.data.dream(net, 6, (1, 12, 12), steps=5, batch_size=4, seed=4)
    assert len(a) == 6 and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert net.training and not net[0].weight.requires_grad and net[0].bias.requires_grad
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # running stats untouched


def test_like_gives_the_shape_and_each_channels_value_range():
    net = _net()
    like = torch.rand(5, 1, 12, 12) * 0.5 + 1.75  # values in [1.75, 2.25]
    data = st.data.dream(net, 4, like=like, steps=20, batch_size=4)
    assert data.x.shape == (4, 1, 12, 12)
    assert float(data.x.min()) >= float(like.min()) and float(data.x.max()) <= float(like.max())
    ranged = st.data.dream(net, 4, (1, 12, 12), value_range=(0.0, 1.0), steps=5, batch_size=4)
    assert float(ranged.x.min()) >= 0 and float(ranged.x.max()) <= 1


def test_distilling_on_dreamed_inputs_recovers_a_pruned_copy_better_than_noise():
    net = _net()
    real = 2 + 0.3 * torch.randn(256, 1, 12, 12)
    dreamed = st.data.dream(net, 128, (1, 12, 12), steps=150, batch_size=64)
    cfg = st.TrainConfig(epochs=20, optimizer="adam", lr=3e-3, quiet=True, seed=0)

    def recovered(inputs: torch.Tensor) -> float:
        torch.manual_seed(1)
        student = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                nn.Linear(4, 4))
        student = st.distill(student, inputs, st.Distill(net, alpha=1.0), cfg)
        with torch.no_grad():
            return float((student(real).argmax(1) == net(real).argmax(1)).float().mean())

    assert recovered(dreamed.x) > recovered(torch.randn(128, 1, 12, 12)) + 0.1


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "n >= 1"),
    ({"steps": 0}, "steps >= 1"),
    ({"batch_size": 1}, "batch_size >= 2"),
    ({"input_shape": None}, "input_shape"),
    ({"value_range": (1.0, 0.0)}, "low < high"),
    ({"input_shape": 12}, "a sequence like"),
    ({"steps": 2.5}, "integers"),
    ({"input_shape": (3, 12, 12)}, r"does not take inputs of shape \(3, 12, 12\)"),
])
def test_bad_arguments_are_refused_in_one_line(kwargs, match):
    args = {"n": 2, "input_shape": (1, 12, 12), "steps": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        st.data.dream(_net(), **args)


def test_a_model_without_batchnorm_is_refused():
    with pytest.raises(ValueError, match="BatchNorm"):
        st.data.dream(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), 2, (4,))


def test_init_rows_are_the_starting_point():
    net = _net()
    start = 2 + 0.3 * torch.randn(6, 1, 12, 12)
    moved = st.data.dream(net, 5, (1, 12, 12), init=start, steps=3, lr=0.01, batch_size=4)
    assert moved.x.shape == (5, 1, 12, 12)
    assert (moved.x - start[:5]).abs().max() < 0.1 < (moved.x - start[:5]).abs().max() * 1000  # moved, a little
    with pytest.raises(ValueError, match="init must hold at least n=5 rows of shape"):
        st.data.dream(net, 5, (1, 12, 12), init=start[:4], steps=1)
    with pytest.raises(ValueError, match="init must hold"):
        st.data.dream(net, 2, (1, 12, 12), init=torch.zeros(2, 1, 10, 10), steps=1)


def test_a_channels_last_model_dreams_the_same_inputs():
    net = _net()
    a = st.data.dream(net, 4, (1, 12, 12), steps=3, batch_size=4)
    b = st.data.dream(net.to(memory_format=torch.channels_last), 4, (1, 12, 12), steps=3, batch_size=4)
    torch.testing.assert_close(a.x, b.x.contiguous(), atol=1e-4, rtol=1e-4)


def test_like_may_be_a_numpy_array():
    import numpy as np

    data = st.data.dream(_net(), 2, like=np.full((3, 1, 12, 12), 2.0, np.float32), steps=1, batch_size=2)
    assert data.x.shape == (2, 1, 12, 12) and float(data.x.min()) >= 2.0 and float(data.x.max()) <= 2.0
