"""Surgery entries for torch's own layers: conv (plain, grouped, depthwise), linear, norms, embedding."""

from __future__ import annotations

import numpy as np
from torch import nn

from .surgery import _TABLE, Surgery

OUT, IN, CH = ("out",), ("in",), ("c",)


def _first(args: tuple, kwargs: dict):
    return args[0] if args else next(iter(kwargs.values()))


# ---- convolutions ------------------------------------------------------------------------------
def _conv_trace(tr, name, m, args, kwargs, out):
    x = _first(args, kwargs)
    cdim = 0 if x.dim() == m.weight.dim() - 1 else 1  # unbatched input has no batch dim
    lab_in = tr.channels(x, cdim)
    lab_out = tr.new(m.out_channels, name)
    if m.groups > 1:  # input and output channels of one group live and die together
        ip, op = m.in_channels // m.groups, m.out_channels // m.groups
        first = lab_out[::op]  # one representative per group
        tr.union(lab_in, np.repeat(first, ip), "grouped conv reads untracked channels")
        tr.union(lab_out, np.repeat(first, op))
    tr.slot(name, "in", lab_in)
    tr.slot(name, "out", lab_out)
    tr.set(out, {cdim: lab_out})


def _conv_params(m):
    spec = {"weight": [(0, OUT)] + ([(1, IN)] if m.groups == 1 else []), "bias": [(0, OUT)]}
    return spec if m.bias is not None else {"weight": spec["weight"]}


def _conv_update(m, keep):
    per_group_in = m.in_channels // m.groups
    m.groups = max(1, len(keep["in"]) // per_group_in) if m.groups > 1 else 1
    m.in_channels, m.out_channels = len(keep["in"]), len(keep["out"])
    return m


# ---- linear ------------------------------------------------------------------------------------
def _linear_trace(tr, name, m, args, kwargs, out):
    x = _first(args, kwargs)
    tr.slot(name, "in", tr.channels(x, -1))
    lab_out = tr.new(m.out_features, name)
    tr.slot(name, "out", lab_out)
    labels = {d: a for d, a in tr.get(x).items() if d != x.dim() - 1}  # batch/sequence dims pass through
    labels[out.dim() - 1] = lab_out
    tr.set(out, labels)


def _linear_params(m):
    spec = {"weight": [(0, OUT), (1, IN)], "bias": [(0, OUT)]}
    return spec if m.bias is not None else {"weight": spec["weight"]}


def _linear_update(m, keep):
    m.in_features, m.out_features = len(keep["in"]), len(keep["out"])
    return m


# ---- per-channel layers --------------------------------------------------------------------
def _bn_trace(tr, name, m, args, kwargs, out):
    x = _first(args, kwargs)
    tr.slot(name, "c", tr.channels(x, 1))
    tr.set(out, dict(tr.get(x)))


def _bn_params(m):
    names = ["weight", "bias", "running_mean", "running_var"]
    return {p: [(0, CH)] for p in names if getattr(m, p, None) is not None}


def _bn_update(m, keep):
    m.num_features = len(keep["c"])
    return m


def _ln_trace(tr, name, m, args, kwargs, out):
    x = _first(args, kwargs)
    lab = tr.get(x)
    nd = len(m.normalized_shape)
    if nd > 1:
        for d, arr in lab.items():
            if d >= x.dim() - nd:
                tr.block(arr, "LayerNorm over several dims")
        tr.set(out, {d: a for d, a in lab.items() if d < x.dim() - nd})
        return
    dim = -1 if x.shape[-1] == m.normalized_shape[0] else 1  # subclasses normalise channels-first (ConvNeXt)
    tr.slot(name, "c", tr.channels(x, dim))
    tr.set(out, dict(lab))


def _ln_params(m):
    if len(m.normalized_shape) > 1:
        return {}
    return {p: [(0, CH)] for p in ("weight", "bias") if getattr(m, p, None) is not None}


def _ln_update(m, keep):
    m.normalized_shape = (len(keep["c"]),)
    return m


def _emb_trace(tr, name, m, args, kwargs, out):
    lab_out = tr.new(m.embedding_dim, name)
    tr.slot(name, "out", lab_out)
    tr.set(out, {out.dim() - 1: lab_out})


def _emb_update(m, keep):
    m.embedding_dim = len(keep["out"])
    return m


def conv_in_dim(m, x):
    return x.dim() - (m.weight.dim() - 1)  # 1, or 0 for an unbatched input


def last_dim(m, x):
    return x.dim() - 1


conv = Surgery(_conv_trace, _conv_params, IN, _conv_update, conv_in_dim)
for _cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
    _TABLE[_cls] = conv
_TABLE[nn.Linear] = Surgery(_linear_trace, _linear_params, IN, _linear_update, last_dim)
for _cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
    _TABLE[_cls] = Surgery(_bn_trace, _bn_params, (), _bn_update)
_TABLE[nn.LayerNorm] = Surgery(_ln_trace, _ln_params, (), _ln_update)
_TABLE[nn.Embedding] = Surgery(_emb_trace, lambda m: {"weight": [(1, OUT)]}, (), _emb_update)
