"""Hand-written models, one per op family that structural pruning must handle (issue 10's list)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


class SplitPieces(nn.Module):
    """``split`` with a size held in an attribute; pieces reordered and sent to different layers."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, 2 * c, 1)
        self.split_size = c
        self.a, self.b = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 1)
        self.head = nn.Conv2d(2 * c, 4, 1)

    def forward(self, x):
        p, q = torch.relu(self.stem(x)).split(self.split_size, dim=1)
        return self.head(torch.cat([self.b(q), self.a(p)], 1))


class SplitList(nn.Module):
    """``split`` by a list of unequal sizes held in an attribute: each piece prunes alone, the list is rewritten."""

    def __init__(self, sizes: tuple[int, ...] = (8, 4)):
        super().__init__()
        self.sizes = list(sizes)
        self.stem = nn.Conv2d(3, sum(sizes), 1)
        self.a, self.b = nn.Conv2d(sizes[0], 8, 3, padding=1), nn.Conv2d(sizes[1], 8, 1)
        self.head = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        p, q = torch.split(torch.relu(self.stem(x)), self.sizes, dim=1)
        return self.head(torch.cat([self.b(q), self.a(p)], 1))


class ChunkGLU(nn.Module):
    """``chunk``: a gated linear unit (pieces multiplied) and a second chunk sent to two layers."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.up = nn.Linear(6, 4 * c)
        self.down = nn.Linear(c, 5)
        self.side = nn.Linear(c, 5)

    def forward(self, x):
        a, b = self.up(x).chunk(2, dim=-1)
        h = a * torch.sigmoid(b)
        u, v = h.chunk(2, dim=-1)
        return self.down(v) + self.side(u)


class Res2Net(nn.Module):
    """res2net-style chain: split into fixed pieces, add the previous piece, concat."""

    def __init__(self, width: int = 4, scales: int = 4):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(3, width * scales, 1)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(scales - 1))
        self.conv3 = nn.Conv2d(width * scales, 6, 1)

    def forward(self, x):
        pieces = torch.relu(self.conv1(x)).split(self.width, 1)
        out, prev = [], None
        for i, conv in enumerate(self.convs):
            sp = pieces[i] if prev is None else prev + pieces[i]
            prev = torch.relu(conv(sp))
            out.append(prev)
        return self.conv3(torch.cat(out + [pieces[-1]], 1))


class PartialResidual(nn.Module):
    """A residual over the first ``c`` channels only, and a slice of the channel dim."""

    def __init__(self, c: int = 4, extra: int = 8):
        super().__init__()
        self.c = c
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Conv2d(c, c + extra, 3, padding=1)
        self.head = nn.Conv2d(c + extra, 5, 1)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = torch.relu(self.body(x))
        y = torch.cat([y[:, : self.c] + x, y[:, self.c :]], 1)
        return self.head(y)


class ConvNeXtBlock(nn.Module):
    """Channels-last block: dwconv, permute, LayerNorm(C), Linear MLP, layer scale, permute back, residual."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 2, stride=2)
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pw1, self.pw2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.rand(c) + 0.5)
        self.head = nn.Linear(c, 3)

    def forward(self, x):
        x = self.stem(x)
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pw2(F.gelu(self.pw1(self.norm(y))))
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean((2, 3)))


class HandAttention(nn.Module):
    """ViT-style attention written by hand: qkv reshaped with sizes read from the input, then SDPA."""

    def __init__(self, d: int = 16, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.embed = nn.Linear(5, d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.head = nn.Linear(d, 3)

    def forward(self, x):
        x = self.embed(x)
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, -1))
        x = x + self.fc2(F.gelu(self.fc1(x)))
        return self.head(x.mean(1))


class HeadsFromInput(HandAttention):
    """Heads read as ``-1`` (a timm/HF style reshape): pruning heads keeps the reshape valid."""

    def forward(self, x):
        x = self.embed(x)
        b, n, _ = x.shape
        hd = self.qkv.in_features // self.heads
        q, k, v = self.qkv(x).split(self.qkv.out_features // 3, -1)
        q, k, v = (t.reshape(b, n, -1, hd).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, -1))
        return self.head((x + self.fc2(F.gelu(self.fc1(x)))).mean(1))


class GroupedQueryAttention(nn.Module):
    """Grouped-query attention (Llama/Qwen/Mistral style): 4 query heads share 2 key/value heads (enable_gqa)."""

    def __init__(self, d: int = 16, heads: int = 4, kv_heads: int = 2, hd: int = 4):
        super().__init__()
        self.hd = hd
        self.q, self.k, self.v = nn.Linear(d, heads * hd), nn.Linear(d, kv_heads * hd), nn.Linear(d, kv_heads * hd)
        self.o, self.head = nn.Linear(heads * hd, d), nn.Linear(d, 3)
        self.embed = nn.Linear(5, d)

    def forward(self, x):
        x = self.embed(x)
        b, n, _ = x.shape
        q, k, v = (p(x).view(b, n, -1, self.hd).transpose(1, 2) for p in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.head((x + self.o(a.transpose(1, 2).reshape(b, n, -1))).mean(1))


class _Standardize(nn.Module):
    """Weight standardisation with a per-output-channel gain."""

    def __init__(self, c: int):
        super().__init__()
        self.gain = nn.Parameter(torch.rand(c, 1, 1, 1) + 0.5)

    def forward(self, w):
        mean, std = w.mean((1, 2, 3), keepdim=True), w.std((1, 2, 3), keepdim=True) + 1e-5
        return self.gain * (w - mean) / std


class StandardizedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        parametrize.register_parametrization(self.conv1, "weight", _Standardize(8))
        self.conv3 = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


class GroupNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.gn = nn.Conv2d(3, 16, 3, padding=1), nn.GroupNorm(4, 16)
        self.conv2 = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        return self.conv2(F.silu(self.gn(self.conv1(x))))


class Upsampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.bn = nn.BatchNorm2d(8)
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.out(torch.relu(self.bn(self.up(torch.relu(self.enc(x))))))


class Recurrent(nn.Module):
    def __init__(self, kind: str = "gru"):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.rnn = (nn.GRU if kind == "gru" else nn.LSTM)(8, 12, batch_first=True)
        self.fc, self.head = nn.Linear(12, 16), nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.rnn(torch.relu(self.embed(x)))
        return self.head(torch.relu(self.fc(out[:, -1])))


class EmbeddingBag(nn.Module):
    """Embedding dims: the table's columns are channels of the next layer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 16)
        self.fc, self.head = nn.Linear(16, 8), nn.Linear(8, 2)

    def forward(self, ids):
        return self.head(torch.relu(self.fc(self.emb(ids)).mean(1)))


def _img(*shape):
    return [torch.randn(2, 3, *shape[:2]), torch.randn(3, 3, *shape[2:])]


# name -> (factory, example inputs (two shapes), expectation: "prunes" or "keeps")
FAMILIES = {
    "split_pieces": (SplitPieces, lambda: _img(6, 6, 9, 9), "prunes"),
    "split_list": (SplitList, lambda: _img(6, 6, 9, 9), "prunes"),
    "chunk_glu": (ChunkGLU, lambda: [torch.randn(2, 5, 6), torch.randn(3, 7, 6)], "prunes"),
    "res2net": (Res2Net, lambda: _img(6, 6, 8, 8), "prunes"),
    "partial_residual": (PartialResidual, lambda: _img(6, 6, 8, 8), "prunes"),
    "convnext_block": (ConvNeXtBlock, lambda: _img(8, 8, 12, 12), "prunes"),
    "hand_attention": (HandAttention, lambda: [torch.randn(2, 5, 5), torch.randn(3, 7, 5)], "prunes"),
    "heads_from_input": (HeadsFromInput, lambda: [torch.randn(2, 5, 5), torch.randn(3, 7, 5)], "prunes"),
    "gqa_attention": (GroupedQueryAttention, lambda: [torch.randn(2, 5, 5), torch.randn(3, 7, 5)], "prunes"),
    "standardized_conv": (StandardizedConv, lambda: _img(6, 6, 8, 8), "prunes"),
    "group_norm": (GroupNormNet, lambda: _img(6, 6, 8, 8), "prunes"),
    "conv_transpose": (Upsampler, lambda: _img(6, 6, 8, 8), "prunes"),
    "gru": (lambda: Recurrent("gru"), lambda: [torch.randn(2, 5, 4), torch.randn(3, 7, 4)], "prunes"),
    "lstm": (lambda: Recurrent("lstm"), lambda: [torch.randn(2, 5, 4), torch.randn(3, 7, 4)], "prunes"),
    "embedding": (EmbeddingBag, lambda: [torch.randint(0, 30, (2, 5)), torch.randint(0, 30, (3, 7))], "prunes"),
}
