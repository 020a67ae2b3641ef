"""Datasets converted once to ``.npz`` in the cache folder, read back without pickle."""

from __future__ import annotations

import zipfile
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
    """All arrays of an ``.npz`` file, refusing pickled object arrays.

    Raises:
        ValueError: one line: an object array (named; unpickling could run code), or not an ``.npz`` archive.
    """
    try:
        f = np.load(path, allow_pickle=False)
    except (ValueError, zipfile.BadZipFile, EOFError):  # neither zip nor .npy: numpy would read a pickle, refused
        raise ValueError("not an .npz archive of arrays (np.savez) but a pickle or another format") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError("one .npy array, not an .npz archive of named arrays (np.savez)")
    with f:
        out = {}
        for k in f.files:
            try:
                out[k] = f[k]
            except ValueError:  # numpy's "Object arrays cannot be loaded when allow_pickle=False"
                raise ValueError(f"array {k!r} holds Python objects (a pickled object array), which are never "
                                 "loaded: unpickling can run code") from None
        return out
