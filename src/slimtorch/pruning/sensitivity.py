"""How much the network's output moves when a share of one layer's output channels is cut and its reader re-solved.

For each entry ``key: (producer, reader)``: the lowest-energy share ``r`` of ``producer``'s output channels
(energy on the fit rows times the squared norm of the reader's weights on that channel: what the channel sends
on) is zeroed, the reader (a 1x1 conv or Linear) is re-solved by ridge least squares on the fit rows so it
still produces the original's output from the kept channels (with an intercept), and the KL from the
original's predictions to the changed network's is measured on *other* rows (``val_x``; fit rows would hide a
solve that overfits: in MobileNetV2's last blocks the fit KL stayed flat while the held-out KL grew ten-fold).
One block at a time, the rest of the network untouched: the table :func:`allocate.allocate` turns into
per-block ratios. Cost: one pass over the fit rows per key, one over the validation rows per (key, ratio).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def _pointwise(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or (
        isinstance(m, nn.Conv2d)
        and m.kernel_size == (1, 1)
        and m.groups == 1
        and m.stride == (1, 1)
        and m.padding == (0, 0)
    )


def _run(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(b) for b in x.split(batch_size)])


def _rows(t: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) -> (N * positions, C)."""
    return t.reshape(t.shape[0], t.shape[1], -1).transpose(1, 2).reshape(-1, t.shape[1])


def _capture(model: nn.Module, reader: str, x: torch.Tensor, positions: int, batch_size: int, seed: int):
    """The reader's input and output rows on ``x`` (at most ``positions`` sampled positions per input)."""
    ins, outs, gen = [], [], torch.Generator().manual_seed(seed)

    def grab(_m, args, out):
        a, y = args[0], out
        if a.dim() == 4 and a.shape[2] * a.shape[3] > positions:
            pick = torch.randperm(a.shape[2] * a.shape[3], generator=gen)[:positions]
            a, y = a.flatten(2)[:, :, pick], y.flatten(2)[:, :, pick]
        ins.append(_rows(a).double())
        outs.append(_rows(y).double())

    h = model.get_submodule(reader).register_forward_hook(grab)
    try:
        _run(model, x, batch_size)
    finally:
        h.remove()
    return torch.cat(ins), torch.cat(outs)


def _kl(out: torch.Tensor, ref: torch.Tensor) -> float:
    lp, lq = F.log_softmax(ref.float(), 1), F.log_softmax(out.float(), 1)
    return float((lp.exp() * (lp - lq)).sum(1).mean())


def channel_sensitivity(
    model: nn.Module,
    cuts: dict[str, tuple[str, str]],
    ratios: tuple[float, ...],
    fit_x: torch.Tensor,
    val_x: torch.Tensor,
    ridge: float = 1e-3,
    positions: int = 256,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, dict[float, float]]:
    """``{key: {ratio: KL on val_x}}`` for cutting ``ratio`` of each producer's channels alone (reader re-solved).

    Args:
        model: a classifier (logits out); left unchanged (each measurement runs on a copy).
        cuts: ``{key: (producer, reader)}``: module names; the reader reads exactly the producer's channels
            and is a Linear or a 1x1 conv (stride 1, no groups).
        ratios: shares of the producer's channels to cut, each in (0, 1).
        fit_x: inputs that score the channels and solve the reader.
        val_x: other inputs that measure the output's KL to the original.
        ridge: ridge strength (times the mean diagonal of the Gram matrix) of the solve.
        positions: output positions sampled per input for a conv reader.

    Returns:
        The KL table, ratios in the order given.

    Raises:
        ValueError: a reader that is not a Linear / 1x1 conv, or a ratio outside (0, 1).

    Example:
        >>> cuts = {"features.3": ("features.3.conv.1", "features.3.conv.2")}          # doctest: +SKIP
        >>> channel_sensitivity(mobilenet, cuts, (0.25, 0.5), fit_x, val_x)            # doctest: +SKIP
    """
    if not all(0 < r < 1 for r in ratios):
        raise ValueError(f"ratios must lie in (0, 1), got {ratios}")
    model = copy.deepcopy(model).eval()
    ref = _run(model, val_x, batch_size)
    table: dict[str, dict[float, float]] = {}
    for key, (producer, reader) in cuts.items():
        r_mod = model.get_submodule(reader)
        if not _pointwise(r_mod):
            raise ValueError(
                f"cuts[{key!r}]: the reader {reader!r} must be a Linear or a 1x1 conv (stride 1, groups 1), got {r_mod}"
            )
        a, y = _capture(model, reader, fit_x, positions, batch_size, seed)
        w = r_mod.weight.detach().reshape(r_mod.weight.shape[0], -1).double()  # (out, in)
        order = ((a**2).mean(0) * (w**2).sum(0)).argsort()  # lowest first: cut first
        table[key] = {}
        for r in ratios:
            keep = order[int(r * len(order)) :].sort().values
            table[key][r] = _kl(_cut_and_solve(model, producer, reader, keep, a, y, ridge, val_x, batch_size), ref)
    return table


def _cut_and_solve(model, producer, reader, keep, a, y, ridge, val_x, batch_size) -> torch.Tensor:
    """The network's outputs on ``val_x`` with the producer's other channels zeroed and the reader re-solved."""
    ak = torch.cat([a[:, keep], torch.ones(len(a), 1, dtype=a.dtype)], 1)
    gram = ak.T @ ak
    lam = ridge * gram.diagonal().mean()
    r_mod = model.get_submodule(reader)
    w = r_mod.weight.detach().reshape(r_mod.weight.shape[0], -1).double()
    b = r_mod.bias.detach().double() if r_mod.bias is not None else torch.zeros(len(w), dtype=w.dtype)
    prior = torch.cat([w[:, keep].T, b[None]])
    sol = torch.linalg.solve(gram + lam * torch.eye(len(gram), dtype=gram.dtype), ak.T @ y + lam * prior)
    new_w = torch.zeros_like(w)
    new_w[:, keep] = sol[:-1].T
    mask = torch.zeros(w.shape[1])
    mask[keep] = 1
    old = r_mod.weight.detach().clone()

    def zero(_m, _args, out):
        return out * mask.view(1, -1, *([1] * (out.dim() - 2))).to(out.dtype)

    def shift(_m, _args, out):
        extra = (sol[-1] - b).to(out.dtype)
        return out + extra.view(1, -1, *([1] * (out.dim() - 2)))

    hooks = [model.get_submodule(producer).register_forward_hook(zero), r_mod.register_forward_hook(shift)]
    try:
        with torch.no_grad():
            r_mod.weight.copy_(new_w.reshape(old.shape).to(old.dtype))
        return _run(model, val_x, batch_size)
    finally:
        for h in hooks:
            h.remove()
        with torch.no_grad():
            r_mod.weight.copy_(old)
