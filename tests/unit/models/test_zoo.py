import pytest
import torch
from torch import fx

import slimtorch as st
from slimtorch.io import get_spec

# (name, kwargs, input shape, output shape): every zoo model on a tiny batch
CASES = [
    ("mlp", {"widths": [12, 8, 3]}, (2, 3, 4), (2, 3)),
    ("mlp", {"widths": [4, 6, 6, 2], "batchnorm": True, "dropout": 0.1, "activation": "tanh"}, (3, 4), (3, 2)),
    ("lenet300", {}, (2, 1, 28, 28), (2, 10)),
    ("lenet5", {}, (2, 1, 28, 28), (2, 10)),
    ("lenet5", {"in_channels": 3, "num_classes": 4}, (2, 3, 28, 28), (2, 4)),
    ("lenet5_caffe", {}, (2, 1, 28, 28), (2, 10)),
    ("resnet_cifar", {"depth": 8, "in_channels": 1}, (2, 1, 28, 28), (2, 10)),
    ("resnet_cifar", {"depth": 14, "width": 8, "num_classes": 5}, (2, 3, 32, 32), (2, 5)),
    ("mobilenet_v2", {"num_classes": 7, "width_mult": 0.35}, (2, 3, 32, 32), (2, 7)),
    ("mobilenet_v2", {"num_classes": 10, "width_mult": 0.5, "in_channels": 1}, (2, 1, 28, 28), (2, 10)),
    ("mnist_cnn", {}, (2, 1, 28, 28), (2, 10)),
]


def test_names():
    assert set(st.models.names()) == {
        "mlp", "lenet300", "lenet5", "lenet5_caffe", "resnet_cifar", "mobilenet_v2", "mnist_cnn", "minilm"}


@pytest.mark.parametrize("name,kwargs,inp,out", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_forward_shape_spec_trace_and_save_round_trip(name, kwargs, inp, out, tmp_path):
    model = st.models.build(name, **kwargs).eval()
    x = torch.randn(*inp)
    y = model(x)
    assert y.shape == out
    spec = get_spec(model)
    assert spec["name"] == name and {k: v for k, v in spec["kwargs"].items() if k in kwargs} == kwargs
    # structural pruning traces graphs: forward must be free of data-dependent control flow
    traced = fx.symbolic_trace(model)
    torch.testing.assert_close(traced(x), y)
    loaded = st.load(st.save(model, tmp_path / "m"))
    torch.testing.assert_close(loaded(x), y)


def test_spec_records_defaults_as_json():
    model = st.models.build("mlp", widths=(2, 4, 1))
    assert get_spec(model) == {"name": "mlp", "kwargs": {"widths": [2, 4, 1], "activation": "relu",
                                                          "batchnorm": False, "dropout": 0.0,
                                                          "output_activation": None}}


def test_unknown_model_and_kwarg():
    with pytest.raises(ValueError, match=r"unknown model 'vgg'; known: .*lenet5"):
        st.models.build("vgg")
    with pytest.raises(ValueError, match=r"'lenet5': unknown argument\(s\) \['classes'\]; allowed: num_classes=10"):
        st.models.build("lenet5", classes=3)


@pytest.mark.parametrize("name,kwargs,match", [
    ("mlp", {"widths": [5]}, "widths"),
    ("mlp", {"widths": [2, 2], "dropout": 1.0}, "dropout"),
    ("mlp", {"widths": [2, 2, 2], "activation": "swish"}, r"activation='swish' is not known; allowed: relu"),
    ("resnet_cifar", {"depth": 21}, "6n\\+2"),
    ("mobilenet_v2", {"width_mult": 0.0}, "width_mult"),
    ("mobilenet_v2", {"pretrained": True, "num_classes": 10}, "num_classes=1000"),
    ("mnist_cnn", {"pretrained": True, "num_classes": 3}, "num_classes=10"),
])
def test_bad_values(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        st.models.build(name, **kwargs)


def test_mlp_layout_and_xor_net():
    model = st.models.build("mlp", widths=[2, 4, 1], activation="tanh", output_activation="sigmoid")
    assert [n for n, _ in model.named_children()] == ["flatten", "fc1", "act1", "fc2", "out_act"]
    with torch.no_grad():
        y = model(torch.zeros(4, 2))
    assert y.shape == (4, 1) and float(y.min()) > 0 and float(y.max()) < 1
    bn = st.models.build("mlp", widths=[3, 5, 2], batchnorm=True, dropout=0.5)
    assert [n for n, _ in bn.named_children()] == ["flatten", "fc1", "bn1", "act1", "drop1", "fc2"]


def test_register_model_duplicate():
    from slimtorch.models import register_model

    with pytest.raises(ValueError, match="already registered"):
        register_model("lenet5", lambda: torch.nn.Linear(1, 1))
