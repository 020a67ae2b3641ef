"""How channel labels move through torch operations that are not layers (the tracer's op table).

Each rule reads the labels of the operands and sets the labels of the result. Pure index ops
(view, permute, cat, getitem, split, ...) are replayed on a tensor of labels: whatever the op does
to positions it does to labels, so one rule covers them all. An op with no rule blocks the
channels of its tracked operands (they are kept) and the tracer warns, naming the layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import slimtorch.pruning.heads as heads
import slimtorch.pruning.sizes as sizes

UNARY = set(
    "relu relu_ relu6 hardtanh hardtanh_ gelu silu silu_ sigmoid sigmoid_ tanh tanh_ hardswish hardswish_ "
    "hardsigmoid hardsigmoid_ leaky_relu leaky_relu_ elu elu_ selu celu softplus mish prelu_ dropout dropout_ "
    "dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout clone contiguous to float double half "
    "bfloat16 type type_as detach detach_ abs abs_ neg __neg__ exp log sqrt rsqrt square sin cos erf reciprocal "
    "sign floor ceil round __abs__ requires_grad_ cpu cuda clamp clamp_ clip clip_ fill_ zero_ pow __pow__ pow_ "
    "__invert__ logical_not isnan isinf nan_to_num exp_ mul_scalar __pos__ positive".split()
)
ELEMENTWISE = set(
    "add add_ sub sub_ mul mul_ div div_ true_divide __add__ __radd__ __iadd__ __sub__ __rsub__ __isub__ __mul__ "
    "__rmul__ __imul__ __truediv__ __rtruediv__ __itruediv__ __div__ where maximum minimum addcmul addcdiv "
    "masked_fill masked_fill_ copy_ eq ne gt lt ge le __eq__ __ne__ __gt__ __lt__ __ge__ __le__ __and__ __or__ "
    "logical_and logical_or lerp rsub fmod remainder __mod__".split()
)
INDEX = set(
    "view reshape flatten unflatten view_as reshape_as permute transpose transpose_ swapaxes swapdims t T mT "
    "movedim moveaxis squeeze squeeze_ unsqueeze unsqueeze_ expand expand_as broadcast_to repeat tile __getitem__ "
    "narrow select split chunk unbind tensor_split flip roll cat concat concatenate stack index_select pad".split()
)
SPATIAL = set(
    "max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d "
    "adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d max_pool1d_with_indices "
    "max_pool2d_with_indices max_pool3d_with_indices adaptive_max_pool1d_with_indices "
    "adaptive_max_pool2d_with_indices interpolate upsample upsample_nearest upsample_bilinear "
    "lp_pool2d lp_pool1d".split()
)
REDUCE = set(
    "mean sum amax amin max min std var prod logsumexp softmax log_softmax argmax argmin any all cumsum nansum "
    "nanmean norm median".split()
)
SHAPE_ONLY = set(
    "zeros_like ones_like empty_like full_like rand_like randn_like new_zeros new_ones new_empty new_full "
    "new_tensor".split()
)
MATMUL = set("matmul mm bmm __matmul__".split())


def op_name(func: Any) -> str:
    name = getattr(func, "__name__", "") or str(func)
    if name == "__get__":  # a tensor property (.T, .mT, .data): name it after the property
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name


def _flat(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _flat(v)]
    return []


def propagate(tr, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
    """Set the labels of ``out`` from those of the operands of ``func`` (called by the tracer)."""
    inputs = _flat(args) + _flat(kwargs)
    label_params(tr, inputs)
    if not any(tr.get(t) for t in inputs):
        return
    name = op_name(func)
    outs = _flat(out)
    if name in SHAPE_ONLY or (not outs and name not in ("__setitem__",)):
        return
    if name in UNARY:
        _unary(tr, args[0], outs)
    elif name in ELEMENTWISE:
        _elementwise(tr, name, inputs, outs[0])
    elif name in INDEX:
        _replay(tr, name, func, args, kwargs, outs)
        _constants(tr, name, args, kwargs, outs)
    elif name in SPATIAL:
        _spatial(tr, name, args[0], outs)
    elif name in REDUCE:
        _reduce(tr, name, args, kwargs, outs)
    elif name in MATMUL:
        _matmul(tr, name, args[0], args[1], outs[0])
    elif name == "scaled_dot_product_attention":
        heads.sdpa(tr, args, kwargs, outs[0])
    else:
        for t in inputs:
            tr.block_tensor(t, f"operation {name!r} has no pruning rule")


def _constants(tr, name: str, args: tuple, kwargs: dict, outs: list[torch.Tensor]) -> None:
    """Sizes the pruned model keeps as constants (split sizes, slice bounds): see ``sizes.py``."""
    if name in sizes.SPLITS:
        sizes.after_split(tr, name, args, kwargs, outs)
    elif name == "__getitem__":
        sizes.after_getitem(tr, args, outs[0])
    elif name == "narrow":
        sizes.after_narrow(tr, args, kwargs)
    elif name == "index_select":
        sizes.after_index_select(tr, args, kwargs)


def _unary(tr, x: Any, outs: list[torch.Tensor]) -> None:
    lab = tr.get(x)
    for o in outs:
        if o.shape == x.shape:
            tr.set(o, dict(lab))
        else:
            tr.block_tensor(x, "an elementwise op changed the shape")


def _elementwise(tr, name: str, inputs: list[torch.Tensor], out: torch.Tensor) -> None:
    """Broadcasting elementwise op: operands aligned on a full-size dim are coupled channel by channel."""
    n = out.dim()
    result = {}
    for od in range(n):
        size = out.shape[od]
        tracked, untracked = [], False
        for t in inputs:
            d = od - (n - t.dim())
            if d < 0:
                continue
            lab = tr.get(t).get(d)
            if t.shape[d] != size:
                if lab is not None:
                    tr.block(lab, f"{name!r} broadcasts a channel dim")
            elif lab is None:
                untracked = untracked or size > 1
            else:
                tracked.append(lab)
        if tracked:
            for other in tracked[1:]:
                tr.union(tracked[0], other, f"{name!r} joins channels that do not line up")
            if untracked:
                tr.block(
                    tracked[0],
                    f"{name!r} combines channels with an untracked tensor (e.g. the model input) of the same size",
                )
            result[od] = tracked[0]
    tr.set(out, result)


def label_params(tr, inputs: list) -> None:
    """Give a model Parameter used directly by an op (layer scale, class token, position table) its own
    elements, one space per dim, held in a ``"param:LEAF:DIM"`` slot of its module: coupled to channels
    it is cut with them; blocked (e.g. a sequence dim) it stays, silently."""
    for t in inputs:
        if isinstance(t, torch.nn.Parameter) and id(t) in tr.free and not tr.get(t):
            owner, _, leaf = tr.owner[id(t)].rpartition(".")
            labels = {}
            for d, n in enumerate(t.shape):
                if n > 1:
                    labels[d] = tr.new(n, owner, f"param:{leaf}:{d}", soft=True)
                    tr.slot(owner, f"param:{leaf}:{d}", labels[d])
            tr.set(t, labels)


def _volume(t: torch.Tensor, dim: int | None, lab: np.ndarray | None) -> torch.Tensor:
    """A tensor shaped like ``t`` holding label+1 along ``dim`` (0 = untracked)."""
    if lab is None:
        return torch.zeros(t.shape, dtype=torch.int64)
    shape = [1] * t.dim()
    shape[dim] = -1
    vol = torch.as_tensor(lab + 1).view(shape).expand(t.shape)
    if 0 in t.stride():
        return vol
    try:  # the real tensor's strides, so that a ``view`` that works on it works on its labels
        return torch.empty_strided(t.shape, t.stride(), dtype=torch.int64).copy_(vol)
    except RuntimeError:
        return vol.contiguous()


def _swap(x: Any, mapping: dict[int, torch.Tensor]) -> Any:
    if isinstance(x, torch.Tensor) and id(x) in mapping:
        return mapping[id(x)]
    if isinstance(x, (list, tuple)):
        return type(x)(_swap(v, mapping) for v in x)
    return x


def _replay(tr, name: str, func: Any, args: tuple, kwargs: dict, outs: list[torch.Tensor]) -> None:
    """Run the same index op on label volumes and read back along which output dim each ended up."""
    sources = [t for t in _flat(args[:1] if name not in ("cat", "concat", "concatenate", "stack") else args[0])]
    dims = sorted({d for t in sources for d in tr.get(t)})
    kwargs = dict(kwargs)
    if name == "pad":
        _pad(tr, args, kwargs, outs)
        return
    results: list[dict[int, np.ndarray]] = [{} for _ in outs]
    if name in ("cat", "concat", "concatenate") and len(sources) > 1:
        dims = _cat_other_dims(tr, args, kwargs, sources, dims, results[0])
    for d in dims:
        mapping = {id(t): _volume(t, d, tr.get(t).get(d)) for t in sources}
        try:
            vol = func(*_swap(args, mapping), **kwargs)
        except Exception as err:
            for t in sources:
                tr.block_tensor(t, f"cannot follow channels through {name!r} ({err})")
            return
        for i, v in enumerate(_flat(vol)):
            arr = v.detach().cpu().numpy()
            found = _axis_of(arr)
            if found is None and name in heads.RESHAPES:
                found = heads.split_heads(tr, arr)
            if found is None:
                for t in sources:
                    tr.block(tr.get(t).get(d, np.array([-1])), f"{name!r} spreads channels over several dims")
            elif found[1] is not None:
                results[i][found[0]] = found[1] - 1
    for o, res in zip(outs, results):
        tr.set(o, res)


def _cat_other_dims(tr, args: tuple, kwargs: dict, sources: list, dims: list[int], result: dict) -> list[int]:
    """``cat`` along one dim: on every other dim the pieces hold the same channels (a class token joined to
    patch tokens), so they are coupled position by position and the output keeps them. Returns the dims
    left to replay (the cat dim)."""
    pieces = [t for t in sources if t.numel() > 0]  # an empty piece (a fresh KV cache) holds no channels
    k = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    k = k % pieces[0].dim() if pieces else 0
    for d in dims:
        if d == k or not pieces:
            continue
        labs = [tr.channels(t, d) for t in pieces]
        for other in labs[1:]:
            tr.union(labs[0], other, "'cat' joins a tracked tensor with an untracked one along another dim")
        result[d] = next(lab for lab in labs if (lab >= 0).any())
    return [d for d in dims if d == k]


def _pad(tr, args: tuple, kwargs: dict, outs: list[torch.Tensor]) -> None:
    """``F.pad``: dims that are not padded keep their labels; padding a channel dim blocks it."""
    x, pad = args[0], args[1] if len(args) > 1 else kwargs.get("pad")
    amounts = {x.dim() - 1 - i // 2: 0 for i in range(len(pad))}
    for i, n in enumerate(pad):
        amounts[x.dim() - 1 - i // 2] += abs(int(n))
    result = {}
    for d, lab in tr.get(x).items():
        if amounts.get(d, 0):
            tr.block(lab, "padding on a channel dim")
        else:
            result[d] = lab
    tr.set(outs[0], result)


def _axis_of(vol: np.ndarray) -> tuple[int, np.ndarray | None] | None:
    """The one axis along which ``vol`` varies (its values there), (0, None) when constant, None if several."""
    if vol.size == 0 or (vol == vol.flat[0]).all():
        return (0, None) if vol.size == 0 or vol.flat[0] == 0 else None
    for e in range(vol.ndim):
        if vol.shape[e] == 1:
            continue
        rows = np.moveaxis(vol, e, 0).reshape(vol.shape[e], -1)
        if (rows == rows[:, :1]).all():
            return e, rows[:, 0].astype(np.int64)
    return None


def _spatial(tr, name: str, x: torch.Tensor, outs: list[torch.Tensor]) -> None:
    """Pooling/resizing: batch and channel dims pass, spatial dims must not carry channels."""
    lab = tr.get(x)
    keep = {}
    for d, arr in lab.items():
        if d < 2 and all(o.dim() == x.dim() and o.shape[d] == x.shape[d] for o in outs):
            keep[d] = arr
        else:
            tr.block(arr, f"{name!r} over a channel dim")
    tr.set(outs[0], keep)  # a second output (pool indices) carries no values


def _reduce(tr, name: str, args: tuple, kwargs: dict, outs: list[torch.Tensor]) -> None:
    x = args[0]
    if name in ("max", "min") and len(args) > 1 and isinstance(args[1], torch.Tensor):
        _elementwise(tr, name, [x, args[1]], outs[0])
        return
    pos = 2 if name == "norm" else 1
    dim = kwargs.get("dim", args[pos] if len(args) > pos else None)
    dims = set(range(x.dim())) if dim is None else {d % x.dim() for d in ((dim,) if isinstance(dim, int) else dim)}
    lab = tr.get(x)
    out = outs[0]
    same_rank = out.dim() == x.dim()
    result = {}
    for d, arr in lab.items():
        if d in dims:
            tr.block(arr, f"{name!r} reduces over channels")
        else:
            nd = d if same_rank else d - sum(1 for r in dims if r < d)
            result[nd] = arr
    for o in outs[:1] if name not in ("max", "min", "median") else outs:
        if o.dtype == x.dtype or name.startswith("arg") or o.dtype == torch.int64:
            tr.set(o, result)


def _matmul(tr, name: str, a: Any, b: Any, out: torch.Tensor) -> None:
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.dim() < 2 or b.dim() < 2:
        for t in _flat((a, b)):
            tr.block_tensor(t, f"{name!r} on vectors")
        return
    la, lb = tr.get(a), tr.get(b)
    tr.union(tr.channels(a, -1), tr.channels(b, -2), f"{name!r} contracts channels with an untracked operand")
    result = heads.batched_dims(tr, name, a, b, out)
    if a.dim() - 2 in la:
        result[out.dim() - 2] = la[a.dim() - 2]
    if b.dim() - 1 in lb:
        result[out.dim() - 1] = lb[b.dim() - 1]
    tr.set(out, result)
