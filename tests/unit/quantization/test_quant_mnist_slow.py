"""MNIST accuracy of the int8 model on every backend vs the simulation (slow: full test set)."""

import pytest
import torch

import slimtorch as st
from slimtorch.quantization import Int8, quantize


def _accuracy(fn, data, batch=1000):
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data), batch):
            correct += int((fn(data.x[i:i + batch]).argmax(1) == data.y[i:i + batch]).sum())
    return correct / len(data)


@pytest.mark.slow
def test_mnist_backends_match_simulation():
    train, test = st.data.load("mnist")
    test = test.subset(5000)  # half the test set keeps this under ~2 min on 2 shared cores
    model = st.models.build("mnist_cnn", pretrained=True).eval()
    fp32 = _accuracy(model, test)
    assert fp32 > 0.985
    qm = quantize(model, Int8(backend="integer", observer="percentile", calib_batches=8), train.subset(4096))
    sim = _accuracy(qm.simulate, test)
    assert fp32 - sim <= 0.003  # PTQ costs at most 0.3 point here
    accs = {}
    for backend in ("integer", "torch", "onnxruntime"):
        qm.set_backend(backend)
        accs[backend] = _accuracy(qm, test)
    assert abs(accs["integer"] - sim) <= 0.001
    assert abs(accs["torch"] - sim) <= 0.002
    assert abs(accs["onnxruntime"] - sim) <= 0.002
