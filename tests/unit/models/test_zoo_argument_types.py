"""A zoo argument of the wrong type is refused by name, never coerced: the string "false" is truthy, and
``pretrained="false"`` (a quoted recipe value, ``--set model.kwargs.pretrained=maybe``) silently loaded the
shipped weights; ``num_classes="10"`` failed deep inside torch with a message naming neither."""

import pytest
import torch

import slimtorch as st


@pytest.mark.parametrize("name,kwargs,expect", [
    ("mnist_cnn", {"pretrained": "false"}, "model 'mnist_cnn': pretrained: got 'false' (str); allowed: true or false"),
    ("mobilenet_v2", {"pretrained": 1}, "model 'mobilenet_v2': pretrained: got 1 (int); allowed: true or false"),
    ("lenet5", {"num_classes": "10"}, "model 'lenet5': num_classes: got '10' (str); allowed: an integer"),
    ("lenet5", {"in_channels": 1.0}, "model 'lenet5': in_channels: got 1.0 (float); allowed: an integer"),
    ("resnet_cifar", {"depth": True}, "model 'resnet_cifar': depth: got True (bool); allowed: an integer"),
    ("mobilenet_v2", {"width_mult": "0.5"}, "model 'mobilenet_v2': width_mult: got '0.5' (str); allowed: a number"),
])
def test_wrong_type_is_refused_by_name(name, kwargs, expect):
    with pytest.raises(ValueError) as err:
        st.models.build(name, **kwargs)
    assert str(err.value) == expect


@pytest.mark.parametrize("name,kwargs", [
    ("mobilenet_v2", {"width_mult": 1, "num_classes": 7}),  # an int where the default is a float: a number
    ("mlp", {"widths": [4, 3], "output_activation": "sigmoid"}),  # None defaults and sequences: not checked
    ("minilm", {"pretrained": False, "num_layers": 1}),
])
def test_right_types_still_build(name, kwargs):
    from slimtorch import io

    recorded = io.get_spec(st.models.build(name, **kwargs))["kwargs"]
    assert {k: recorded[k] for k in kwargs} == kwargs


def test_numpy_numbers_are_taken_and_saved_as_python_numbers(tmp_path):
    import json

    import numpy as np

    model = st.models.build("lenet5", num_classes=np.int64(7))  # num_classes = y.max() + 1 of a numpy array
    st.save(model, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "model.json").read_text())["spec"]["kwargs"]["num_classes"] == 7
    assert st.load(tmp_path / "m")(torch.zeros(1, 1, 28, 28)).shape == (1, 7)


def test_a_one_value_torch_tensor_is_its_number():
    import torch

    model = st.models.build("lenet5", num_classes=torch.tensor([3, 9]).max() + 1)  # 0-d int64 tensor
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    spec = __import__("slimtorch.io", fromlist=["get_spec"]).get_spec(model)
    assert spec["kwargs"]["num_classes"] == 10 and type(spec["kwargs"]["num_classes"]) is int
    with pytest.raises(ValueError, match="num_classes: got 2.5 \\(float\\); allowed: an integer"):
        st.models.build("lenet5", num_classes=torch.tensor(2.5))


@pytest.mark.parametrize("name,key,value", [("lenet5", "num_classes", -3), ("lenet5", "num_classes", 0),
                                            ("resnet_cifar", "depth", 0), ("mobilenet_v2", "in_channels", -1)])
def test_a_size_below_one_is_refused_in_the_api_too(name, key, value):
    with pytest.raises(ValueError, match=rf"model '{name}': {key}: got {value}; allowed: an integer >= 1"):
        st.models.build(name, **{key: value})
