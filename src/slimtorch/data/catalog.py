"""``load(name)``: one entry point for every dataset, returning (train, test) ArrayDatasets."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .arrays import ArrayDataset
from .digits import digits
from .files import csv_file, npz
from .images import images, photos
from .mnist import mnist_arrays, to_float
from .mnist1d import mnist1d
from .split import Arrays
from .synthetic import moons, spirals, xor
from .text import text


def _mnist(normalize: bool = True, limit: int | None = None) -> Arrays:
    a = mnist_arrays()
    rows = slice(None, limit)  # cut before the float conversion: quick runs stay quick
    return (to_float(a["x_train"][rows], normalize), a["y_train"][rows],
            to_float(a["x_test"][rows], normalize), a["y_test"][rows])


# name -> loader; a loader takes only the keyword options it declares (seed/normalize when they matter)
_LOADERS: dict[str, Callable[..., Arrays]] = {
    "xor": xor, "moons": moons, "spirals": spirals, "digits": digits, "mnist": _mnist, "mnist1d": mnist1d,
    "photos": photos,
}
_FILE_LOADERS: dict[str, Callable[..., Arrays]] = {"npz": npz, "csv": csv_file, "images": images, "text": text}
_COMMON = ("normalize", "flatten", "seed", "limit")


def names() -> list[str]:
    """Names accepted by :func:`load` (``npz:PATH``, ``csv:PATH``, ``images:PATH``, ``text:PATH`` take a path)."""
    return [*_LOADERS, *(f"{k}:PATH" for k in _FILE_LOADERS)]


def _resolve(name: str) -> tuple[Callable[..., Arrays], dict[str, Any]]:
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {type(name).__name__}; known: {', '.join(names())}")
    if name in _LOADERS:
        return _LOADERS[name], {}
    prefix, sep, path = name.partition(":")
    if sep and prefix in _FILE_LOADERS and path:
        return _FILE_LOADERS[prefix], {"path": path}
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(names())}")


def _options(fn: Callable) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p not in ("path", "seed", "normalize", "limit")]


def load(name: str, *, normalize: bool = True, flatten: bool = False, seed: int = 0, limit: int | None = None,
         **opts: Any) -> tuple[ArrayDataset, ArrayDataset]:
    """Load a dataset by name as in-memory (train, test) datasets. Everything is local: no download.

    Names: ``xor`` (the 4 points, y float (4, 1)), ``moons``, ``spirals`` (synthetic, seeded),
    ``digits`` (sklearn 8x8), ``mnist`` (60k/10k, x (N, 1, 28, 28) standardised with mean 0.1307 and
    std 0.3081), ``mnist1d`` (signals (N, 40)), ``npz:PATH`` and ``csv:PATH`` (your own arrays).

    Args:
        name: dataset name (see :func:`names`).
        normalize: standardise inputs (MNIST with its usual constants, others with train statistics).
        flatten: reshape inputs to (N, features).
        seed: seed of synthetic generation and of train/test splits.
        limit: keep only the first ``limit`` rows of train and of test (quick runs).
        **opts: dataset options, e.g. ``n``/``noise`` for moons, ``test_fraction`` for splits,
            ``num_samples`` for mnist1d.

    Returns:
        ``(train, test)`` ArrayDatasets: x float32, y int64 class labels (float for xor / regression);
        ``.classes`` names the class ids when a file's labels were strings (else None).

    Raises:
        ValueError: unknown name or option (the message lists the allowed ones).
        MissingPackageError: the offline package that ships the data is not installed.

    Example:
        >>> train, test = load("moons", n=200, noise=0.2)
        >>> len(train), len(test)
        (150, 50)
    """
    fn, fixed = _resolve(name)
    allowed = _options(fn)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(f"dataset {name!r}: unknown option(s) {unknown}; allowed: "
                         f"{', '.join([*_COMMON, *allowed])}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:  # numpy's generators refuse negatives
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    params = inspect.signature(fn).parameters
    kwargs = {**fixed, **opts}
    if "seed" in params:
        kwargs["seed"] = seed
    if "normalize" in params:
        kwargs["normalize"] = normalize
    if "limit" in params:
        kwargs["limit"] = limit
    try:
        x_tr, y_tr, x_te, y_te, *rest = fn(**kwargs)  # file loaders add the names of string labels
    except ValueError as err:  # name the source (split's "1 rows" says nothing of which file), once
        if type(err) is not ValueError or str(err).startswith(name.split(":", 1)[0]):
            raise
        raise ValueError(f"{name}: {err}") from None
    classes = rest[0] if rest else None
    label = name.split(":", 1)[0] if ":" in name else name
    return (_dataset(x_tr, y_tr, flatten, limit, f"{label}-train", classes),
            _dataset(x_te, y_te, flatten, limit, f"{label}-test", classes))


def _dataset(x: np.ndarray, y: np.ndarray, flatten: bool, limit: int | None, name: str,
             classes: tuple[str, ...] | None = None) -> ArrayDataset:
    if limit is not None:
        x, y = x[:limit], y[:limit]
    dtype = np.int64 if x.dtype == np.int64 else np.float32  # token ids (text:FILE) stay integers
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))
    if flatten:
        xt = xt.reshape(len(xt), -1)
    return ArrayDataset(xt, torch.from_numpy(np.ascontiguousarray(y)), name, classes=classes)
