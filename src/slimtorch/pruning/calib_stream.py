"""Calibration rows for reconstruction, read batch by batch and pass after pass: never all in memory at once.

Reconstruction needs the calibration inputs several times (the sequential pass restarts from them until its
cached activations fit in memory), so a :class:`Stream` hands out passes: a tensor is sliced again; a
dataset (say ``PhotoCrops``: a new augmented crop per row drawn) or a re-iterable DataLoader is read again,
and may give new rows every pass - which is as good for least squares (each layer's Gram sums come from
one pass) and lets thousands of crops calibrate a layer. A one-shot iterator is read once into memory.

Rows that choose each layer's ridge (``ridge="auto"``) are held out of the fit: the last ``holdout``
share of a tensor (order it so those are other photos), every ``1/holdout``-th batch of a stream, or,
best, other inputs given as :class:`Calibration`'s ``held``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


@dataclass(frozen=True)
class Calibration:
    """Calibration inputs in two parts: ``fit`` rows (a tensor, a dataset, a DataLoader or batches: streamed)
    and ``held`` rows (a tensor of other inputs, say other photos) that choose each layer's ridge.

    Example:
        >>> st.prune(model, st.ChannelPrune(ratio=0.3, reconstruct=True), example_inputs=x,   # doctest: +SKIP
        ...          calib_data=Calibration(PhotoCrops(photos, 3000), held=val_crops))
    """

    fit: Any
    held: torch.Tensor | None = None

    def __iter__(self) -> Iterator[Any]:  # plain batches for code that reads calibration data once
        yield from _batches(self.fit, 32)
        if self.held is not None:
            yield self.held


def _first(b: Any) -> torch.Tensor:
    return b if isinstance(b, torch.Tensor) else b[0]


def _batches(data: Any, batch_size: int) -> Iterator[torch.Tensor]:
    """One pass over ``data``'s input batches."""
    x = data if isinstance(data, torch.Tensor) else getattr(data, "x", None)
    if isinstance(x, torch.Tensor):
        yield from (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    elif isinstance(data, Dataset) and hasattr(data, "__len__"):
        yield from (_first(b) for b in DataLoader(data, batch_size=batch_size))
    else:
        yield from (_first(b) for b in data)


class Stream:
    """Passes over calibration rows: ``passes()`` yields ``(batch, held)`` for the fit rows, then the held rows.

    Args:
        data: a tensor, a dataset (``.x`` tensor, or rows drawn by index), a DataLoader / iterable of batches
            (``(x, y)`` or ``x``), or a :class:`Calibration`.
        batch_size: rows per batch (a DataLoader keeps its own).
        limit: fit rows per pass at most (None: all that a pass gives).
        holdout: share of the rows held out (None: none), when ``data`` is no :class:`Calibration`.

    Raises:
        ValueError: no data, no rows, or no fit row left.
    """

    def __init__(self, data: Any, batch_size: int = 32, limit: int | None = None, holdout: float | None = None):
        if data is None:
            raise ValueError("reconstruction needs calib_data=... (unlabeled inputs, e.g. st.data.load('images:DIR'))")
        self.batch_size, self.limit, self.every = batch_size, limit, 0
        held = data.held if isinstance(data, Calibration) else None
        fit = data.fit if isinstance(data, Calibration) else data
        if not isinstance(fit, torch.Tensor | Dataset) and getattr(fit, "x", None) is None and iter(fit) is fit:
            fit = torch.cat(list(self._capped(fit)) or [torch.empty(0)])
        x = fit if isinstance(fit, torch.Tensor) else getattr(fit, "x", None)
        if isinstance(x, torch.Tensor) and held is None:
            x = x[:limit] if limit else x
            n_held = min(len(x) - 1, max(1, round(len(x) * holdout))) if holdout and len(x) > 1 else 0
            fit, held = x[:len(x) - n_held], (x[len(x) - n_held:] if n_held else None)
        elif held is None and holdout:
            self.every = max(2, round(1 / holdout))  # every k-th batch of each pass is held out
        self.fit, self.held = fit, held
        self.example = next(iter(self.passes()), (None,))[0]
        if self.example is None or len(self.example) == 0:
            raise ValueError("calib_data holds no inputs")

    def _capped(self, data: Any) -> Iterator[torch.Tensor]:
        n = 0
        for b in _batches(data, self.batch_size):
            if self.limit and n >= self.limit:
                return
            b = b[:self.limit - n] if self.limit else b
            n += len(b)
            yield b

    def passes(self) -> Iterator[tuple[torch.Tensor, bool]]:
        """One pass: ``(batch, held)`` pairs, the fit batches (new draws where the data draws anew) first."""
        for i, b in enumerate(self._capped(self.fit)):
            yield b, bool(self.every) and i % self.every == self.every - 1
        if self.held is not None:
            yield from ((self.held[i:i + self.batch_size], True) for i in range(0, len(self.held), self.batch_size))

    def __iter__(self) -> Iterator[torch.Tensor]:  # one pass of plain batches (code that reads the data once)
        yield from (b for b, _ in self.passes())

    @property
    def holds_out(self) -> bool:
        """Whether any rows are held out."""
        return self.held is not None or self.every > 0
