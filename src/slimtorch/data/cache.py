"""Datasets converted once to ``.npz`` in the cache folder, read back without pickle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..io import atomic_write
from .offline import cache_dir


def cached_arrays(name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays from ``<cache>/<name>.npz``, building and writing them (atomically) on first use.

    Later loads use ``np.load(allow_pickle=False)``: plain arrays only, nothing executed.

    Args:
        name: cache file stem (include a version so a format change never reads a stale file).
        build: returns the arrays to store (plain numeric dtypes).

    Returns:
        name -> array.
    """
    path = cache_dir() / f"{name}.npz"
    if not path.exists():
        arrays = build()

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
                np.savez(f, **arrays)

        atomic_write(path, write)
    return read_npz(path)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, refusing pickled object arrays."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
