"""Inputs dreamed from a trained network's BatchNorm statistics: recovery data when there is (almost) none.

A BatchNorm layer stores the mean and variance of its input over the whole training set. Starting from
noise, :func:`dream` optimizes a batch of inputs until, at every BatchNorm layer, the batch's per-channel
mean and variance match those stored statistics, while the network classifies each input as a class drawn
at random (so the batch covers the classes) and a smoothness prior keeps neighbouring pixels close
(DeepInversion, Yin et al., CVPR 2020). The result is unlabeled: the classes only steered the search, and
the original model, as a distillation teacher, labels the inputs itself.

Cost: one forward and backward of the model per step and batch (200 steps by default); cheap for small
networks (512 MNIST-sized inputs for a small ResNet: ~3.5 minutes on one core), hours on a CPU for an ImageNet
MobileNetV2 at 224 px (~0.1 s per input and step on one core).

Example:
    >>> small = st.prune(copy.deepcopy(model), st.ChannelPrune(ratio=0.5), example_inputs=x[:2])  # doctest: +SKIP
    >>> inputs = st.data.dream(model, 512, like=x[:64])       # no training data needed     # doctest: +SKIP
    >>> small = st.distill(small, inputs, st.Distill(model, alpha=1.0))                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .arrays import ArrayDataset

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def dream(
    model: nn.Module,
    n: int,
    input_shape: Sequence[int] | None = None,
    *,
    like: torch.Tensor | None = None,
    init: torch.Tensor | None = None,
    value_range: tuple[float, float] | None = None,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 0.1,
    bn_weight: float = 1.0,
    smoothness: float = 0.01,
    seed: int = 0,
) -> ArrayDataset:
    """``n`` inputs whose activations match ``model``'s BatchNorm statistics, as an unlabeled ArrayDataset.

    Args:
        model: a trained network with BatchNorm layers (their running statistics are what is matched); a
            classifier's (rows, classes) output also steers each input towards a random class.
        n: rows to dream.
        input_shape: one input's shape without the batch, e.g. (3, 224, 224); or give ``like``.
        like: a few real inputs: their shape, and each channel's min/max as the value range.
        init: inputs to start from instead of noise (say, a few real photos' crops: dreams that keep their
            layout), at least ``n`` rows of ``input_shape``.
        value_range: (low, high) every value is kept in (the normalised pixel range); default from ``like``,
            else unbounded.
        steps: Adam steps per batch.
        batch_size: inputs optimized together (BatchNorm statistics are batch statistics: keep it >= 16).
        lr: Adam learning rate on the inputs.
        bn_weight: weight of the statistics mismatch (per layer, the mean over channels of the KL divergence
            of a Gaussian with the batch's mean and variance from one with the running ones; summed over layers).
        smoothness: weight of the mean squared difference of neighbouring values (image inputs).
        seed: the noise, the classes, and the jitter of every step (same seed, same inputs).

    Returns:
        ``ArrayDataset`` named "dreamed", labels -1.

    Raises:
        ValueError: no BatchNorm layer, n or steps < 1, batch_size < 2, no shape (or one the model does not take),
            or ``init`` of another shape or with fewer than ``n`` rows.
    """
    bns = [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats and m.running_mean is not None]
    if not bns:
        raise ValueError("dream needs a model with BatchNorm layers that track running statistics (they are "
                         "what the inputs are made to match); this model has none")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, steps, batch_size)):
        raise ValueError(f"dream's n, steps and batch_size are integers; got {n!r}, {steps!r}, {batch_size!r}")
    if n < 1 or steps < 1 or batch_size < 2:
        raise ValueError(f"dream needs n >= 1, steps >= 1 and batch_size >= 2; got {n}, {steps}, {batch_size}")
    if like is None and input_shape is None:
        raise ValueError("dream needs input_shape (one input's shape, e.g. (3, 224, 224)) or like= real inputs")
    if like is not None:
        like = torch.as_tensor(like)
    elif not isinstance(input_shape, (tuple, list, torch.Size)):
        raise ValueError(f"dream's input_shape is one input's shape, a sequence like (3, 224, 224); "
                         f"got {input_shape!r}")
    shape = tuple(like.shape[1:]) if like is not None else tuple(int(s) for s in input_shape)
    if init is not None and (tuple(init.shape[1:]) != shape or len(init) < n):
        raise ValueError(f"dream's init must hold at least n={n} rows of shape {shape}; got {tuple(init.shape)}")
    lo, hi = _bounds(like, value_range, shape)
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    grads = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    mismatch: list[torch.Tensor] = []
    hooks = [bn.register_forward_hook(_stats_hook(mismatch)) for bn in bns]
    try:
        device = next(model.parameters()).device
        try:
            with torch.no_grad():
                out = model(torch.zeros(1, *shape, device=device))
        except RuntimeError as err:  # a shape the model does not take: name the argument, not torch's internals
            raise ValueError(f"dream: the model does not take inputs of shape {shape} (input_shape / like): "
                             f"{str(err).splitlines()[0]}") from None
        classes = out.shape[1] if isinstance(out, torch.Tensor) and out.dim() == 2 else 0
        rows = []
        for start in range(0, n, batch_size):
            k = min(batch_size, n - start)
            x0 = torch.randn(k, *shape, generator=gen) if init is None else init[start:start + k].float().clone()
            rows.append(_dream_batch(model, x0.to(device), classes, lo, hi, mismatch, gen, steps, lr, bn_weight,
                                     smoothness))
    finally:
        for h in hooks:
            h.remove()
        for p, g in zip(model.parameters(), grads):
            p.requires_grad_(g)
        model.train(was_training)
    x = torch.cat(rows).cpu()
    return ArrayDataset(x, torch.full((len(x),), -1, dtype=torch.long), "dreamed")


def _bounds(like: torch.Tensor | None, value_range: tuple[float, float] | None,
            shape: tuple[int, ...]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Per-channel (1, C, 1, ...) low/high, or None for unbounded."""
    if value_range is not None:
        low, high = float(value_range[0]), float(value_range[1])
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}")
        return torch.tensor(low), torch.tensor(high)
    if like is None or len(shape) < 2:
        return None, None
    dims = [0, *range(2, like.dim())]
    view = (1, shape[0], *[1] * (len(shape) - 1))
    return like.float().amin(dims).view(view), like.float().amax(dims).view(view)


def _stats_hook(mismatch: list[torch.Tensor]):
    def hook(bn: nn.Module, inputs: tuple, _out) -> None:
        x = inputs[0]
        dims = [0, *range(2, x.dim())]
        mean, var = x.mean(dims), x.var(dims, unbiased=False) + bn.eps
        ref_var = bn.running_var + bn.eps
        # KL(N(mean, var) || N(running mean, running var)) per channel: scale-free, so no layer's width or
        # value scale dominates the sum
        kl = 0.5 * (var / ref_var + (mean - bn.running_mean) ** 2 / ref_var - 1 + torch.log(ref_var / var))
        mismatch.append(kl.mean())
    return hook


def _dream_batch(model, x, classes, lo, hi, mismatch, gen, steps, lr, bn_weight, smoothness):
    k, shape, device = len(x), tuple(x.shape[1:]), x.device
    if len(shape) == 3 and _channels_last(model):  # the model's layout: its convolutions' fast path
        x = x.contiguous(memory_format=torch.channels_last)
    if lo is not None:
        lo, hi = lo.to(device), hi.to(device)
        x = torch.maximum(torch.minimum(x, hi), lo)
    x.requires_grad_(True)
    target = torch.randint(0, classes, (k,), generator=gen).to(device) if classes else None
    opt = torch.optim.Adam([x], lr=lr, betas=(0.5, 0.9))
    image = len(shape) == 3
    for _ in range(steps):
        xi = x
        if image:  # a random shift and mirror each step: inputs that keep their class when moved a little
            reach = max(1, shape[-1] // 16)
            dy, dx = (int(v) for v in torch.randint(-reach, reach + 1, (2,), generator=gen))
            xi = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            if bool(torch.rand(1, generator=gen) < 0.5):
                xi = xi.flip(3)
        mismatch.clear()
        out = model(xi)
        loss = bn_weight * torch.stack(mismatch).sum()
        if target is not None:
            loss = loss + F.cross_entropy(out, target)
        if image:
            loss = loss + smoothness * ((xi[..., 1:] - xi[..., :-1]).pow(2).mean()
                                        + (xi[..., 1:, :] - xi[..., :-1, :]).pow(2).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if lo is not None:
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, hi), lo))
    return x.detach()


def _channels_last(model: nn.Module) -> bool:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv is not None and conv.weight.is_contiguous(memory_format=torch.channels_last) \
        and not conv.weight.is_contiguous()
