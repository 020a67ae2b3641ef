"""CIFAR-style ResNets (He et al. 2016, section 4.2): ResNet-20/32/44/56/110, depth = 6n + 2.

Shortcuts use option B: identity when shapes match, otherwise a 1x1 convolution + BatchNorm
(named ``downsample`` as in torchvision). Option A (zero-padding) has no parameters but hides the
channel coupling from structural pruning; a projection keeps every dependency an ordinary layer.
"""

from __future__ import annotations

import torch
from torch import nn

from .zoo import register_model


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual add: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.downsample(x))


class ResNetCifar(nn.Module):
    """conv3x3 stem -> three stages of n BasicBlocks (width, 2*width, 4*width; strides 1, 2, 2) ->
    global average pool -> linear. The adaptive pool accepts any input size (28x28 MNIST, 32x32 CIFAR)."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), got {depth}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        planes = width
        stages = []
        for i, mult in enumerate((1, 2, 4)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(planes, width * mult, stride))
                planes = width * mult
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("resnet_cifar")
def resnet_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16) -> ResNetCifar:
    """ResNet-``depth`` for small images (depth 20: 0.27M parameters at width 16 and 3 channels).

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110).
        num_classes: output classes.
        in_channels: 1 (MNIST) or 3 (CIFAR); any positive value works.
        width: channels of the first stage (16 in the paper); stages use width, 2x, 4x.
    """
    return ResNetCifar(depth, num_classes, in_channels, width)
