"""In-memory datasets: tensors that the trainer can slice directly (no per-sample Python calls)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset


class ArrayDataset(Dataset):
    """A dataset held as tensors ``x`` (N, ...) and ``y`` (N, ...).

    The trainer recognises it and takes whole batches by index (``x[idx]``), which is much
    faster than a DataLoader collating single samples.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, name: str = "arrays",
                 classes: tuple[str, ...] | None = None):
        if len(x) != len(y):
            raise ValueError(f"{name}: x has {len(x)} rows but y has {len(y)}")
        self.x, self.y, self.name = x, y, name
        self.classes = tuple(classes) if classes is not None else None  # names of class ids 0, 1, ... (string labels)

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def subset(self, n: int) -> ArrayDataset:
        """The first ``n`` rows (handy for quick runs and tests)."""
        return ArrayDataset(self.x[:n], self.y[:n], self.name, self.classes)

    def __repr__(self) -> str:
        return f"ArrayDataset({self.name}, n={len(self)}, x={tuple(self.x.shape[1:])}, y={tuple(self.y.shape[1:])})"


def in_memory_tensors(data: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(x, y)`` when ``data`` is an ArrayDataset or a two-tensor TensorDataset, to slice whole batches; else None."""
    if isinstance(data, ArrayDataset) or (isinstance(data, TensorDataset) and len(data.tensors) == 2):
        return data.tensors
    return None
