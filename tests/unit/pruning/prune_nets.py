"""Small architectures for the pruning case table (importable factories, so save/load can rebuild them)."""

from __future__ import annotations

import torch
from torch import nn

from slimtorch import io


def _spec(model: nn.Module, fn: str, **kwargs) -> nn.Module:
    return io.set_spec(model, {"factory": f"prune_nets:{fn}", "kwargs": kwargs})


def _randomize_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics so that a wrongly kept/removed channel shows in the outputs."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
    return model


class DenseBlock(nn.Module):
    """DenseNet-style: every layer reads the concatenation of all earlier feature maps."""

    def __init__(self, c: int = 8, growth: int = 6, layers: int = 3, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.layers = nn.ModuleList()
        for i in range(layers):
            cin = c + i * growth
            self.layers.append(nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, growth, 3, padding=1)))
        self.head = nn.Linear(c + layers * growth, classes)

    def forward(self, x):
        feats = [self.stem(x)]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return self.head(torch.cat(feats, 1).mean((2, 3)))


class SEBlock(nn.Module):
    def __init__(self, c: int = 16, r: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.fc1, self.fc2 = nn.Linear(c, c // r), nn.Linear(c // r, c)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(y.mean((2, 3))))))
        return x + y * gate.view(gate.shape[0], -1, 1, 1)  # residual + per-channel gate


class SENet(nn.Module):
    def __init__(self, classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.se1, self.se2 = SEBlock(16), SEBlock(16)
        self.fc = nn.Linear(16 * 4 * 4, classes)

    def forward(self, x):
        x = self.se2(self.se1(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 4), 1))  # flatten: channel = 16 features


class GroupedNet(nn.Module):
    """Grouped and depthwise convolutions (MobileNet/ResNeXt style)."""

    def __init__(self, classes: int = 5):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU6(),
            nn.Conv2d(16, 32, 3, padding=1, groups=4),
            nn.BatchNorm2d(32),
            nn.ReLU6(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32),
            nn.BatchNorm2d(32),
            nn.ReLU6(),
            nn.Conv2d(32, 64, 1, groups=2),
            nn.BatchNorm2d(64),
            nn.ReLU6(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, classes),
        )

    def forward(self, x):
        return self.body(x)


class TinyTransformer(nn.Module):
    def __init__(self, d: int = 32, heads: int = 4, classes: int = 5):
        super().__init__()
        self.proj = nn.Linear(12, d)
        self.enc = nn.TransformerEncoderLayer(d, heads, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        return self.head(self.enc(self.proj(x)).mean(1))


class TinyBert(nn.Module):
    """A random-initialised BERT classifier from a small transformers config."""

    def __init__(self, classes: int = 5):
        super().__init__()
        from transformers import BertConfig, BertModel

        cfg = BertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            vocab_size=50,
            max_position_embeddings=16,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        self.bert = BertModel(cfg, add_pooling_layer=False)
        self.head = nn.Linear(32, classes)

    def forward(self, ids):
        return self.head(self.bert(input_ids=ids).last_hidden_state[:, 0])


def dense_block() -> nn.Module:
    torch.manual_seed(0)
    return _spec(_randomize_bn(DenseBlock()), "dense_block")


def se_net() -> nn.Module:
    torch.manual_seed(0)
    return _spec(_randomize_bn(SENet()), "se_net")


def grouped_net() -> nn.Module:
    torch.manual_seed(0)
    return _spec(_randomize_bn(GroupedNet()), "grouped_net")


def tiny_transformer() -> nn.Module:
    torch.manual_seed(0)
    return _spec(TinyTransformer(), "tiny_transformer")


def tiny_bert() -> nn.Module:
    torch.manual_seed(0)
    return _spec(TinyBert(), "tiny_bert")
