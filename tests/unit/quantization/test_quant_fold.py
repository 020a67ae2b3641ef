"""BN folding keeps outputs and survives save/load."""

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.quantization import fold_batchnorm
from slimtorch.quantization.fold import find_conv_bn_pairs


def test_fold_tiny_outputs_unchanged(tiny, tiny_x):
    ref = tiny(tiny_x)
    folded = fold_batchnorm(tiny)
    assert isinstance(folded.b1, nn.Identity) and isinstance(folded.b2, nn.Identity)
    assert folded.c2.bias is not None  # a bias-free conv gains the BN shift
    torch.testing.assert_close(folded(tiny_x), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, kwargs, shape", [
    ("resnet_cifar", {"depth": 8, "in_channels": 1, "width": 4}, (1, 12, 12)),
    ("mobilenet_v2", {"num_classes": 10, "width_mult": 0.25}, (3, 32, 32)),
    ("mlp", {"widths": [12, 16, 4], "batchnorm": True}, (12,)),
])
def test_fold_zoo_outputs_unchanged_and_save_load(tmp_path, name, kwargs, shape):
    m = st.models.build(name, **kwargs).eval()
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, *shape)
    ref = m(x)
    n_bn = sum(isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)) for mod in m.modules())
    assert len(find_conv_bn_pairs(m)) == n_bn
    fold_batchnorm(m)
    assert not any(isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)) for mod in m.modules())
    torch.testing.assert_close(m(x), ref, rtol=1e-4, atol=1e-4)
    st.save(m, tmp_path / "m")
    torch.testing.assert_close(st.load(tmp_path / "m")(x), m(x))


def test_fold_untraceable_raises():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 1, 1)

        def forward(self, x):
            return self.c(x) if x.sum() > 0 else x

    with pytest.raises(ValueError, match="cannot trace Branchy"):
        fold_batchnorm(Branchy())
