"""Weight sharing (Han et al., ICLR 2016): each layer's nonzero weights take one of 2^bits shared values.

The shared values are the weights themselves: a layer is shared when it holds at most 2^bits
distinct nonzero values, and its clusters are read back from them (:func:`clusters`). Nothing
beside the model has to be kept, saved or trusted, and zeros (pruned weights) stay zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ..layers import prunable
from .kmeans import INITS, kmeans_1d

MAX_BITS = 8  # cluster indices are stored one byte each before entropy coding


def check_bits(bits: int | Mapping[str, int], where: str = "bits") -> None:
    """Raise ValueError unless ``bits`` is an int in [1, 8] or a mapping of layer patterns to such ints."""
    items = bits.items() if isinstance(bits, Mapping) else [(None, bits)]
    for key, b in items:
        path = where if key is None else f"{where}.{key}"
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= MAX_BITS:
            raise ValueError(f"{path}: got {b!r}; allowed: an integer in [1, {MAX_BITS}]")
    if isinstance(bits, Mapping) and not bits:
        raise ValueError(f"{where}: empty mapping; give bits per layer, e.g. {{'fc1': 5, '.*': 4}}")


def layer_bits(model: nn.Module, bits: int | Mapping[str, int], ignore: Iterable[str] = ()) -> dict[str, int]:
    """``{"layer.weight": bits}`` for every conv/linear weight to share.

    ``bits`` is one width for all, or ``{layer name or regex: bits}`` where the first matching
    pattern wins and a layer matched by none is left as it is.

    Raises:
        ValueError: no float conv/linear weight to share (a quantized model), or a pattern matches no
            layer (the message lists the layers).
    """
    check_bits(bits)
    params = {n: p for n, p in prunable(model, ignore).items() if p.is_floating_point()}
    if not params:  # e.g. a quantized model: returning it unchanged would look like success
        found = "every conv/linear layer is in ignore" if prunable(model) else \
            "it has no float conv/linear (nn.Linear, nn.ConvNd) weights"
        raise ValueError(f"weight sharing: nothing to share in {type(model).__name__}: {found}; share a float "
                         "model's weights (before quantizing it)")
    if not isinstance(bits, Mapping):
        return dict.fromkeys(params, bits)
    layers = {name.removesuffix(".weight"): name for name in params}
    out: dict[str, int] = {}
    for pattern, b in bits.items():
        matched = [w for layer, w in layers.items() if re.fullmatch(pattern, layer)]
        if not matched:
            raise ValueError(f"bits: {pattern!r} matches no conv/linear layer; layers: {', '.join(layers)}")
        for w in matched:
            out.setdefault(w, b)
    return out


def clusters(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared values of a weight and each element's cluster: ``(codebook, index)``.

    Returns:
        ``codebook``: the sorted distinct nonzero values (the weight's dtype); ``index``: int64 of the
        weight's shape, the codebook position of each element and -1 where the weight is zero.
    """
    w = weight.detach()
    codebook = torch.unique(w[w != 0])  # sorted
    index = torch.searchsorted(codebook, w.contiguous())
    return codebook, torch.where(w != 0, index, torch.full_like(index, -1))


def is_shared(weight: torch.Tensor, bits: int) -> bool:
    """True when the weight holds at most 2^bits distinct nonzero values."""
    w = weight.detach()
    return torch.unique(w[w != 0]).numel() <= 2**bits


@torch.no_grad()
def share_layer(weight: torch.Tensor, bits: int, init: str = "linear") -> None:
    """Replace the nonzero entries of ``weight`` (in place) by their k-means centroid, k = 2^bits.

    A layer that already holds at most k distinct nonzero values keeps its values (k-means with a
    cluster per value is the identity). Zeros stay zero (as +0.0): they are not clustered.
    """
    nz = weight != 0
    weight[~nz] = 0.0  # -0.0 (a pruned negative weight) becomes +0.0: the packed file then reads back bit for bit
    if is_shared(weight, bits):
        return
    centroids, labels = kmeans_1d(weight[nz], 2**bits, init)
    shared = centroids.to(weight.dtype)
    # A centroid that rounds to exactly zero in the weight's dtype would turn its members into pruned
    # weights: give it the smallest normal value of its sign instead, so the mask is kept.
    tiny = torch.finfo(weight.dtype).tiny
    shared = torch.where(shared == 0, torch.where(centroids < 0, -tiny, tiny).to(weight.dtype), shared)
    weight[nz] = shared[labels]


def share_weights(model: nn.Module, bits: int | Mapping[str, int] = 5, init: str = "linear",
                  ignore: Iterable[str] = ()) -> nn.Module:
    """Cluster each conv/linear layer's nonzero weights into 2^bits shared values (in place).

    Every weight of a cluster becomes the cluster's centroid, so the model stays a plain model that
    runs everywhere; :func:`slimtorch.compression.pack` then stores each layer as a codebook plus
    entropy-coded cluster indices and sparse positions. Fine-tune the centroids afterwards with the
    :class:`~slimtorch.compression.ShareWeights` hook.

    Args:
        model: the model (pruned or not); zeros are kept and not clustered.
        bits: cluster index width, one for all layers, or ``{layer name or regex: bits}``.
        init: centroid initialisation, "linear" (the paper's best), "density" or "random".
        ignore: names or regexes of layers left as they are.

    Returns:
        The same model.

    Raises:
        ValueError: bits outside [1, 8], an unknown init, a bits pattern that matches no layer, or no float
            conv/linear weight to share (e.g. a quantized model).

    Example:
        >>> model = st.share_weights(model, bits={"fc1": 4, ".*": 5})
    """
    if init not in INITS:
        raise ValueError(f"init: got {init!r}; allowed: {', '.join(INITS)}")
    params = dict(model.named_parameters())
    for name, b in layer_bits(model, bits, ignore).items():
        share_layer(params[name].data, b, init)
    return model
