"""Parameter counts against hand-computed values (and, for MobileNetV2, torchvision's published count)."""

import pytest

import slimtorch as st
from slimtorch.bench import count_params


def _lin(i, o):
    return i * o + o


def _conv(i, o, k, bias=True):
    return i * o * k * k + (o if bias else 0)


def _bn(c):
    return 2 * c


def test_lenet5_params():
    expected = _conv(1, 6, 5) + _conv(6, 16, 5) + _lin(400, 120) + _lin(120, 84) + _lin(84, 10)
    assert expected == 61706
    assert count_params(st.models.build("lenet5")) == expected


def test_lenet5_caffe_params_are_han_et_al_431k():
    expected = _conv(1, 20, 5) + _conv(20, 50, 5) + _lin(800, 500) + _lin(500, 10)
    assert expected == 431080
    assert count_params(st.models.build("lenet5_caffe")) == expected


def test_lenet300_params():
    assert count_params(st.models.build("lenet300")) == _lin(784, 300) + _lin(300, 100) + _lin(100, 10)


def test_mnist_cnn_params():
    expected = _conv(1, 32, 3) + _conv(32, 64, 3) + _lin(3136, 128) + _lin(128, 10)
    assert count_params(st.models.build("mnist_cnn")) == expected


def _resnet_params(n, w=16, c_in=3, classes=10):
    total = _conv(c_in, w, 3, False) + _bn(w)
    planes = w
    for mult in (1, 2, 4):
        for _ in range(n):
            out = w * mult
            total += _conv(planes, out, 3, False) + _bn(out) + _conv(out, out, 3, False) + _bn(out)
            if planes != out:  # option B projection shortcut
                total += _conv(planes, out, 1, False) + _bn(out)
            planes = out
    return total + _lin(4 * w, classes)


@pytest.mark.parametrize("depth", [20, 56])
def test_resnet_cifar_params(depth):
    assert count_params(st.models.build("resnet_cifar", depth=depth)) == _resnet_params((depth - 2) // 6)


def test_mobilenet_v2_matches_torchvision_count():
    # torchvision documents 3,504,872 parameters for mobilenet_v2 (ImageNet, width 1.0)
    assert count_params(st.models.build("mobilenet_v2")) == 3504872
