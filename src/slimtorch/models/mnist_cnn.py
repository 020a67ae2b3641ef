"""The small MNIST CNN whose trained weights ship in the ``ccexam`` package (99.05% test accuracy)."""

from __future__ import annotations

import torch
from torch import nn

from .pretrained import load_shipped
from .zoo import register_model


class MnistCNN(nn.Module):
    """conv 32@3x3 -> ReLU -> pool -> conv 64@3x3 -> ReLU -> pool -> 3136 -> 128 -> 10 (ccexam's MNISTNet layout).

    Expects (N, 1, 28, 28) inputs normalised with mean 0.1307 and std 0.3081 (``st.data.load("mnist")``).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model("mnist_cnn")
def mnist_cnn(pretrained: bool = False, num_classes: int = 10) -> MnistCNN:
    """MNIST CNN; ``pretrained=True`` loads ccexam's ``weights/mnist.pth`` (``weights_only=True``).

    Raises:
        ValueError: ``pretrained=True`` with ``num_classes`` other than 10.
        MissingPackageError: ``ccexam`` is not installed.
    """
    if pretrained and num_classes != 10:
        raise ValueError(f"pretrained=True needs num_classes=10 (the shipped checkpoint), got {num_classes}")
    model = MnistCNN(num_classes)
    if pretrained:
        load_shipped(model, "ccexam", "weights/mnist.pth", "ccexam")
    return model
