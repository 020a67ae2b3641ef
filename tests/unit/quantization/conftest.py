"""Small models and data shared by the quantization tests."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn


class TinyNet(nn.Module):
    """conv-BN-ReLU, depthwise conv-BN-ReLU6, 1x1 conv, residual add + ReLU, pools, flatten, linear."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8)
        self.c3 = nn.Conv2d(8, 8, 1)
        self.pool, self.gap, self.fc = nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        y = self.c3(F.relu6(self.b2(self.c2(x))))
        x = self.pool(F.relu(x + y))
        return self.fc(torch.flatten(self.gap(x), 1))


def make_tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    m = TinyNet()
    for bn in (m.b1, m.b2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    return m.eval()


@pytest.fixture
def tiny():
    return make_tiny()


@pytest.fixture
def tiny_x():
    return torch.randn(16, 1, 12, 12, generator=torch.Generator().manual_seed(1))
