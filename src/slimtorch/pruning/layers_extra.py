"""Surgery entries beyond plain conv/linear/norms: GroupNorm, ConvTranspose, Hugging Face ``Conv1D``."""

from __future__ import annotations

from torch import nn

from .layers import CH, IN, OUT, _conv_trace, _first, _linear_trace, conv_in_dim, last_dim
from .surgery import _BY_NAME, _TABLE, Surgery


# ---- GroupNorm: whole groups leave together ------------------------------------------------------
def _gn_trace(tr, name, m, args, kwargs, out):
    x = _first(args, kwargs)
    lab = tr.channels(x, 1)
    per = m.num_channels // m.num_groups
    for g in range(m.num_groups):
        part = lab[g * per : (g + 1) * per]
        if (part < 0).any():  # a group cannot lose some of its channels: its statistics would change
            tr.block(part, "GroupNorm group holds untracked channels")
        tr.union_all(part)
    tr.slot(name, "c", lab)
    tr.set(out, dict(tr.get(x)))


def _gn_params(m):
    return {p: [(0, CH)] for p in ("weight", "bias") if getattr(m, p, None) is not None}


def _gn_update(m, keep):
    per = m.num_channels // m.num_groups
    m.num_channels = len(keep["c"])
    m.num_groups = m.num_channels // per
    return m


# ---- ConvTranspose: weight is (in, out / groups, *kernel) ---------------------------------------
def _convt_trace(tr, name, m, args, kwargs, out):
    if m.groups > 1:
        x = _first(args, kwargs)
        tr.block(tr.channels(x, 1), "grouped transposed convolution")
        lab = tr.new(m.out_channels, name)
        tr.block(lab, "grouped transposed convolution")
        tr.set(out, {1: lab})
        return
    _conv_trace(tr, name, m, args, kwargs, out)


def _convt_params(m):
    if m.groups > 1:
        return {}
    spec = {"weight": [(0, IN), (1, OUT)], "bias": [(0, OUT)]}
    return spec if m.bias is not None else {"weight": spec["weight"]}


def _convt_update(m, keep):
    m.in_channels, m.out_channels = len(keep["in"]), len(keep["out"])
    return m


# ---- transformers' Conv1D (GPT-2 family): a linear layer with a transposed (in, out) weight -------
def _conv1d_trace(tr, name, m, args, kwargs, out):
    _linear_trace(tr, name, _Features(m.weight.shape[1]), args, kwargs, out)


class _Features:
    def __init__(self, n: int):
        self.out_features = n


def _conv1d_params(m):
    spec = {"weight": [(1, OUT), (0, IN)], "bias": [(0, OUT)]}
    return spec if getattr(m, "bias", None) is not None else {"weight": spec["weight"]}


def _conv1d_update(m, keep):
    m.nf = len(keep["out"])
    if hasattr(m, "nx"):
        m.nx = len(keep["in"])
    return m


_TABLE[nn.GroupNorm] = Surgery(_gn_trace, _gn_params, (), _gn_update)
for _cls in (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d):
    _TABLE[_cls] = Surgery(_convt_trace, _convt_params, IN, _convt_update, conv_in_dim)
_BY_NAME["Conv1D"] = Surgery(_conv1d_trace, _conv1d_params, IN, _conv1d_update, last_dim)
