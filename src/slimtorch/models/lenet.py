"""LeNet family: LeNet-300-100 (fully connected) and LeNet-5 (two convolutions, three linear layers)."""

from __future__ import annotations

import torch
from torch import nn

from .mlp import MLP
from .zoo import register_model


@register_model("lenet300")
def lenet300(num_classes: int = 10, in_features: int = 784) -> MLP:
    """LeNet-300-100: ``in_features``-300-100-``num_classes`` with ReLU (flattens its input)."""
    return MLP([in_features, 300, 100, num_classes], activation="relu")


class LeNet5(nn.Module):
    """LeNet-5 family with ReLU and max-pooling, for 28x28 inputs.

    features: conv ``channels[0]``@5x5 (padded by ``padding``) -> ReLU -> pool -> conv ``channels[1]``@5x5 -> ReLU
    -> pool; classifier: flattened features -> ``hidden`` sizes (ReLU) -> ``num_classes``. The defaults are the
    classic 6-16 / 120-84 net (conv1 pads by 2, as for 32x32 inputs).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, channels: tuple[int, int] = (6, 16),
                 hidden: tuple[int, ...] = (120, 84), padding: int = 2):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=5, padding=padding), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = ((28 + 2 * padding - 4) // 2 - 4) // 2
        widths = [c2 * side * side, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.classifier = nn.Sequential(*layers, nn.Linear(widths[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model("lenet5")
def lenet5(num_classes: int = 10, in_channels: int = 1) -> LeNet5:
    """LeNet-5 for (N, in_channels, 28, 28) inputs: 61,706 parameters and 416,520 MACs per image at 10 classes."""
    return LeNet5(num_classes, in_channels)


@register_model("lenet5_caffe")
def lenet5_caffe(num_classes: int = 10, in_channels: int = 1) -> LeNet5:
    """The Caffe LeNet-5 that Han et al. (2015) prune: conv 20 -> conv 50 (no padding) -> 500 -> classes.

    431,080 parameters at 10 classes (the paper's "431K"), for (N, in_channels, 28, 28) inputs.
    """
    return LeNet5(num_classes, in_channels, channels=(20, 50), hidden=(500,), padding=0)
