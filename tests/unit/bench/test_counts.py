import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.bench import count_macs, count_nonzero, count_params, saved_bytes


@pytest.mark.parametrize("batch", [1, 5])
def test_macs_linear(batch):
    # each of the 3 outputs takes 4 multiply-adds per sample
    assert count_macs(nn.Linear(4, 3), torch.zeros(batch, 4)) == batch * 3 * 4


@pytest.mark.parametrize("stride,padding,size,out_hw", [(1, 1, 5, 5), (2, 0, 7, 3)])
def test_macs_conv2d(stride, padding, size, out_hw):
    conv = nn.Conv2d(2, 3, kernel_size=3, stride=stride, padding=padding)
    # every output element is a 2*3*3 dot product
    expected = 3 * out_hw * out_hw * (2 * 3 * 3)
    assert count_macs(conv, torch.zeros(1, 2, size, size)) == expected


def test_macs_lenet5():
    conv1 = 28 * 28 * 6 * (1 * 25)
    conv2 = 10 * 10 * 16 * (6 * 25)
    fc = 400 * 120 + 120 * 84 + 84 * 10
    assert count_macs(st.models.build("lenet5"), torch.zeros(1, 1, 28, 28)) == conv1 + conv2 + fc == 416520


def test_macs_restores_training_mode():
    model = st.models.build("mlp", widths=[4, 4, 2], batchnorm=True)
    count_macs(model, torch.zeros(2, 4))
    assert model.training


def test_count_nonzero_after_zeroing():
    layer = nn.Linear(4, 3)
    assert count_params(layer) == 15 and count_nonzero(layer) == 15
    with torch.no_grad():
        layer.weight[0].zero_()
        layer.bias[1] = 0.0
    assert count_params(layer) == 15 and count_nonzero(layer) == 10


def test_shared_parameters_counted_once():
    a = nn.Linear(3, 3, bias=False)
    model = nn.Sequential(a, nn.ReLU(), a)
    assert count_params(model) == 9


def test_saved_bytes_equals_files_on_disk(tmp_path):
    model = st.models.build("lenet5")
    path = st.save(model, tmp_path / "m")
    on_disk = sum(f.stat().st_size for f in path.iterdir())
    assert saved_bytes(model) == on_disk
    # float32 weights dominate: at least 4 bytes per parameter
    assert on_disk >= 4 * count_params(model)


def test_saved_bytes_of_a_model_without_spec():
    # a plain module (not from the zoo) is still sized
    assert saved_bytes(nn.Linear(10, 10)) >= 4 * 110


def test_quantized_model_weights_are_counted():
    model = st.models.build("lenet5")
    train, _ = st.data.load("mnist", limit=256)
    q = st.quantize(model, st.Int8(backend="integer", calib_batches=1), calib_data=train)
    assert count_params(q) == count_params(model)
    assert 0 < count_nonzero(q) <= count_params(model)
