"""A user's own arrays: ``npz:PATH`` (arrays x, y [, x_test, y_test]) and ``csv:PATH`` (last column = label)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .cache import read_npz
from .split import Arrays, split, standardize


def _labels(y: np.ndarray) -> np.ndarray:
    """Integral labels become int64 classes; anything else stays float32 (regression targets)."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        return y.astype(np.int64)
    if np.all(np.isfinite(y)) and np.all(y == np.round(y)) and y.ndim == 1:
        return y.astype(np.int64)
    return y.astype(np.float32)


def _finish(x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None, y_test: np.ndarray | None,
            test_fraction: float, seed: int, normalize: bool) -> Arrays:
    x, y = np.asarray(x, dtype=np.float32), _labels(y)
    if x_test is None:
        x_tr, y_tr, x_te, y_te = split(x, y, test_fraction, np.random.default_rng(seed))
    else:
        x_tr, y_tr, x_te, y_te = x, y, np.asarray(x_test, dtype=np.float32), _labels(y_test)
    if normalize:
        x_tr, x_te = standardize(x_tr, x_te)
    return x_tr, y_tr, x_te, y_te


def npz(path: str, test_fraction: float = 0.2, seed: int = 0, normalize: bool = True) -> Arrays:
    """Arrays ``x`` (N, ...) and ``y`` (N, ...) from an ``.npz``; ``x_test``/``y_test`` if present, else a seeded split.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file lacks ``x`` or ``y`` (or has only one of x_test/y_test).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"npz:{path}: no such file")
    a = read_npz(p)
    missing = [k for k in ("x", "y") if k not in a]
    if missing:
        raise ValueError(f"npz:{path}: missing array(s) {missing}; the file needs 'x' and 'y' "
                         f"(optionally 'x_test' and 'y_test'), found {sorted(a)}")
    if ("x_test" in a) != ("y_test" in a):
        raise ValueError(f"npz:{path}: give both 'x_test' and 'y_test' or neither")
    return _finish(a["x"], a["y"], a.get("x_test"), a.get("y_test"), test_fraction, seed, normalize)


def csv_file(path: str, test_fraction: float = 0.2, seed: int = 0, normalize: bool = True,
             delimiter: str = ",") -> Arrays:
    """Numeric table; the last column is the label, an optional non-numeric first row is a header.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a non-numeric cell, ragged rows, or fewer than 2 columns.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"csv:{path}: no such file")
    with open(p, newline="") as f:
        rows = [r for r in csv.reader(f, delimiter=delimiter) if r and any(c.strip() for c in r)]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]  # header
    if not rows:
        raise ValueError(f"csv:{path}: no data rows")
    width = len(rows[0])
    if width < 2:
        raise ValueError(f"csv:{path}: need at least 2 columns (features..., label), got {width}")
    for i, r in enumerate(rows):
        if len(r) != width or not _numeric(r):
            raise ValueError(f"csv:{path}: data row {i + 1} has {len(r)} cells (expected {width}) "
                             f"or a non-numeric cell: {r}")
    table = np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
    return _finish(table[:, :-1], table[:, -1], None, None, test_fraction, seed, normalize)


def _numeric(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True
