"""Batches for one epoch: a seeded permutation per epoch, sharded across processes.

The order of epoch ``e`` is ``torch.randperm(N, generator=torch.Generator().manual_seed(seed + e))``:
it depends only on (seed, epoch), so a resumed run and every DDP rank see exactly the same order
without any generator state to carry around. In-memory :class:`ArrayDataset` data is sliced
directly (one gather per batch, no per-sample Python), and so is a ``TensorDataset`` of two tensors;
other datasets go through a DataLoader.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.arrays import in_memory_tensors

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (row indices, inputs, targets)


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool) -> torch.Tensor:
    """Row indices of epoch ``epoch``: a seeded permutation, or ``0..n-1`` when not shuffling."""
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))


def shard(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's share of ``order``: every ``world_size``-th index, padded by wrapping around so
    every rank takes the same number of steps (as ``DistributedSampler``)."""
    if world_size == 1:
        return order
    per_rank = -(-len(order) // world_size)
    pad = per_rank * world_size - len(order)
    if pad:
        order = torch.cat([order, order[:pad]])
    return order[rank::world_size]


def num_batches(n_rows: int, batch_size: int) -> int:
    return -(-n_rows // batch_size)


class _Indexed(Dataset):
    """Wrap a dataset so each item carries its row index (hooks get ``state.indices``)."""

    def __init__(self, data: Dataset):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        x, y = self.data[i]
        return i, x, y


class Batches:
    """Iterable of ``(indices, x, y)`` for one epoch's row order.

    Args:
        data: an ArrayDataset or a two-tensor TensorDataset (fast path), or any map-style dataset of
            ``(x, y)`` pairs.
        batch_size: rows per batch (the last batch may be smaller).
        device: where batches go; in-memory arrays are moved there once.
        num_workers: DataLoader workers for non-array datasets.
    """

    def __init__(self, data: Dataset, batch_size: int, device: torch.device, num_workers: int = 0):
        self.data, self.batch_size, self.device, self.num_workers = data, batch_size, device, num_workers
        tensors = in_memory_tensors(data)
        self.arrays = None if tensors is None else (tensors[0].to(device), tensors[1].to(device))

    def epoch(self, rows: torch.Tensor, in_order: bool = False) -> Iterator[Batch]:
        """Yield the batches that cover ``rows`` in order; ``in_order`` says rows is ``0..n-1``."""
        bs = self.batch_size
        if self.arrays is not None:
            x, y = self.arrays
            rows_dev = rows.to(self.device)
            for start in range(0, len(rows), bs):
                idx = rows_dev[start:start + bs]
                if in_order:  # unshuffled: zero-copy views
                    yield idx, x[start:start + bs], y[start:start + bs]
                else:  # index_select is the cheapest gather (no advanced-indexing bookkeeping)
                    yield idx, x.index_select(0, idx), y.index_select(0, idx)
            return
        batches = [rows[s:s + bs].tolist() for s in range(0, len(rows), bs)]
        loader = DataLoader(_Indexed(self.data), batch_sampler=batches, num_workers=self.num_workers,
                            pin_memory=self.device.type == "cuda")
        for idx, xb, yb in loader:
            yield idx, xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
