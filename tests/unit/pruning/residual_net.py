"""A small residual conv net and a fixed cut of its hidden channels: the reconstruction tests' common case."""

from __future__ import annotations

import torch
from torch import nn

from slimtorch.pruning.plan import apply_plan


class Residual(nn.Module):
    """conv -> bn -> relu -> conv -> bn, plus the input: a residual add the walk must carry."""

    def __init__(self):
        super().__init__()
        self.a, self.bn_a = nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12)
        self.b, self.bn_b = nn.Conv2d(12, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)

    def forward(self, x):
        return x + self.bn_b(self.b(torch.relu(self.bn_a(self.a(x)))))


def model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Residual(), Residual(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 4))
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.randn(16, 3, 8, 8))
    return net.eval()


def cut(net: nn.Module) -> dict:
    keep = [0, 1, 3, 4, 6, 7, 9, 10]  # 8 of 12 hidden channels in both blocks
    plan = {}
    for blk in ("1", "2"):
        plan[f"{blk}.a"] = {"in": list(range(8)), "out": keep}
        plan[f"{blk}.bn_a"] = {"c": keep}
        plan[f"{blk}.b"] = {"in": keep, "out": list(range(8))}
    apply_plan(net, plan)
    return plan
