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
    """Classic LeNet-5 with ReLU and max-pooling, for 28x28 inputs (conv1 pads by 2, as for 32x32).

    features: conv 6@5x5 -> ReLU -> pool -> conv 16@5x5 -> ReLU -> pool;
    classifier: 400 -> 120 -> 84 -> ``num_classes``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model("lenet5")
def lenet5(num_classes: int = 10, in_channels: int = 1) -> LeNet5:
    """LeNet-5 for (N, in_channels, 28, 28) inputs: 61,706 parameters and 416,520 MACs per image at 10 classes."""
    return LeNet5(num_classes, in_channels)
