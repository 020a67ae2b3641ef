"""The integer-only engine: a hand-computed two-layer example and agreement with the simulation."""

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.quantization import Int8, QuantizedModel, quantize
from slimtorch.quantization.integer import IntegerEngine


def two_layer() -> QuantizedModel:
    """x (S=0.5, Z=10) -> linear l1 + ReLU (S=0.25, Z=5) -> linear l2 (S=0.375, Z=100); exact binary scales."""
    ops = [
        {"op": "input", "name": "x", "in": [], "out": "x", "shape": [2]},
        {"op": "linear", "name": "l1", "module": "l1", "in": ["x"], "out": "l1", "act": "relu"},
        {"op": "linear", "name": "l2", "module": "l2", "in": ["l1"], "out": "l2", "act": None},
        {"op": "output", "name": "output", "in": ["l2"], "out": "", "shape": [1]},
    ]
    t = {
        "act_s": torch.tensor([0.5, 0.25, 0.375]), "act_z": torch.tensor([10, 5, 100]),
        "l1_wq": torch.tensor([[1, 2], [3, -1]], dtype=torch.int8), "l1_ws": torch.tensor([0.25, 0.5]),
        "l1_bq": torch.tensor([-6, -2], dtype=torch.int32),
        "l2_wq": torch.tensor([[2, -3]], dtype=torch.int8), "l2_ws": torch.tensor([0.125]),
        "l2_bq": torch.tensor([7], dtype=torch.int32),
    }
    qm = QuantizedModel(ops, {k: list(v.shape) for k, v in t.items()}, (0, 255), "integer", 8, ["x", "l1", "l2"])
    qm.load_state_dict(t)
    return qm


def test_two_layer_hand_computed():
    qm = two_layer()
    eng = IntegerEngine(qm)
    # M = S_in * S_w / S_out: l1 rows 0.5*0.25/0.25 = 0.5 and 0.5*0.5/0.25 = 1; l2 0.25*0.125/0.375 = 1/12
    assert eng.layers["l1"].m0.tolist() == [2**30, 2**30] and eng.layers["l1"].p.tolist() == [31, 30]
    assert eng.layers["l2"].m0.tolist() == [1431655765] and eng.layers["l2"].p.tolist() == [34]
    x = torch.tensor([[3.0, -2.0]])
    # q_in = [16, 6] -> q - Z = [6, -4]; acc1 = [6 - 8 - 6, 18 + 4 - 2] = [-8, 20]
    # l1: round(-8 * 0.5) + 5 = 1 -> ReLU clamps at Z = 5; round(20 * 1) + 5 = 25
    # l2: acc = 2*0 - 3*20 + 7 = -53; round(-53 / 12) = round(-4.42) = -4 -> q = 96 -> (96 - 100) * 0.375
    codes, value = eng.run_codes(x)
    assert codes.tolist() == [[96]] and value == "l2"
    torch.testing.assert_close(qm(x), torch.tensor([[-1.5]]))
    torch.testing.assert_close(qm.simulate(x), torch.tensor([[-1.5]]))
    m0, p = qm.multipliers()["l2"]
    assert int(m0) == 1431655765 and int(p) == 34


def _randomize_bn(m: nn.Module) -> nn.Module:
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


ZOO = [
    ("lenet5", {}, (1, 28, 28)),
    ("mnist_cnn", {}, (1, 28, 28)),
    ("resnet_cifar", {"depth": 8, "in_channels": 1, "width": 8}, (1, 16, 16)),
    ("mobilenet_v2", {"num_classes": 10, "width_mult": 0.25}, (3, 32, 32)),
    ("mlp", {"widths": [20, 16, 10], "batchnorm": True}, (20,)),
    ("lenet300", {"in_features": 64}, (64,)),
]


@pytest.mark.parametrize("name, kwargs, shape", ZOO, ids=[z[0] for z in ZOO])
@pytest.mark.parametrize("observer", ["minmax", "percentile"])
def test_integer_engine_matches_simulation(name, kwargs, shape, observer):
    m = _randomize_bn(st.models.build(name, **kwargs))
    g = torch.Generator().manual_seed(3)
    calib, x = torch.randn(16, *shape, generator=g), torch.randn(8, *shape, generator=g)
    qm = quantize(m, Int8(backend="integer", observer=observer, calib_batches=1), calib)
    y, sim = qm(x), qm.simulate(x)
    out_scale = qm.act(qm.ops[-2]["out"])[0]
    steps = (y - sim).abs() / out_scale
    assert float(steps.max()) <= 1.0 + 1e-3
    assert float((steps < 0.5).float().mean()) >= 0.999
    # and the quantized model stays close to the float model
    with torch.no_grad():
        ref = m(x)
    assert float((y - ref).abs().max()) < 0.25 * float(ref.abs().max()) + 5 * out_scale


def test_every_layer_exposes_m0_and_p():
    m = _randomize_bn(st.models.build("resnet_cifar", depth=8, in_channels=1, width=4))
    qm = quantize(m, Int8(backend="integer", calib_batches=1), torch.randn(4, 1, 8, 8))
    layers = IntegerEngine(qm).layers
    assert {op["name"] for op in qm.ops if op["op"] in ("conv", "linear", "add")} == set(layers)
    for layer in layers.values():
        m0 = torch.as_tensor(layer.m0 if hasattr(layer, "m0") else layer.m0_a)
        assert int(m0.min()) > 0 and int(m0.max()) < 2**31
