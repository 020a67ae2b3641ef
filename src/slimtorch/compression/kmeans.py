"""One-dimensional k-means (Lloyd's algorithm) with the three initialisations of Han et al. (2016).

In one dimension the nearest centroid of a value is found by binary search among the midpoints of
the sorted centroids, so an iteration costs O(n log k) and the result is exact (no distance matrix).
"""

from __future__ import annotations

import torch

INITS = ("linear", "density", "random")


def initial_centroids(values: torch.Tensor, k: int, init: str = "linear", seed: int = 0) -> torch.Tensor:
    """``k`` starting centroids (float64, sorted) for the 1-D ``values``.

    Args:
        values: 1-D tensor, at least one element.
        k: number of clusters (>= 1).
        init: "linear" (evenly spaced between min and max, the paper's best: large weights keep a
            centroid of their own), "density" (evenly spaced quantiles) or "random" (Forgy: k values).
        seed: for ``init="random"``.

    Returns:
        A sorted float64 tensor of ``k`` centroids.

    Raises:
        ValueError: unknown ``init`` or ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    v = values.detach().reshape(-1).double()
    if init == "linear":
        return torch.linspace(float(v.min()), float(v.max()), k, dtype=torch.float64)
    if init == "density":
        return torch.quantile(v, torch.linspace(0.0, 1.0, k, dtype=torch.float64))
    if init == "random":
        gen = torch.Generator().manual_seed(seed)
        pick = torch.randint(0, v.numel(), (k,), generator=gen)
        return v[pick].sort().values
    raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")


def assign(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (sorted ``centroids``) for each value; a tie goes to the lower one."""
    mids = (centroids[1:] + centroids[:-1]) / 2
    return torch.searchsorted(mids, values.double(), right=False)


def kmeans_1d(values: torch.Tensor, k: int, init: str = "linear", max_iter: int = 100,
              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster 1-D ``values`` into at most ``k`` groups by Lloyd's algorithm.

    A cluster that loses all its members keeps its centroid (it may win members back later) and is
    dropped at the end, so fewer than ``k`` centroids may come back; the labels index the result.

    Args:
        values: 1-D tensor.
        k: the most clusters.
        init: see :func:`initial_centroids`.
        max_iter: Lloyd iterations at most (stops earlier when no label changes).
        seed: for ``init="random"``.

    Returns:
        ``(centroids, labels)``: sorted float64 centroids and an int64 label per value.

    Example:
        >>> kmeans_1d(torch.tensor([1., 2., 3., 10., 11., 12.]), 2)[0]
        tensor([ 2., 11.], dtype=torch.float64)
    """
    v = values.detach().reshape(-1).double()
    c = initial_centroids(v, k, init, seed)
    labels = assign(v, c)
    for _ in range(max_iter):
        sums = torch.zeros_like(c).index_add_(0, labels, v)
        counts = torch.bincount(labels, minlength=c.numel()).double()
        c = torch.where(counts > 0, sums / counts.clamp(min=1), c).sort().values
        new = assign(v, c)
        if torch.equal(new, labels):
            break
        labels = new
    used = torch.unique(labels)
    remap = torch.full((c.numel(),), -1, dtype=torch.int64)
    remap[used] = torch.arange(used.numel())
    return c[used], remap[labels]
