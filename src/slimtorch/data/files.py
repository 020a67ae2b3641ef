"""A user's own arrays: ``npz:PATH`` (arrays x, y [, x_test, y_test]) and ``csv:PATH`` (last column = label).

Everything is checked where it enters: NaN/inf values, x and y of different lengths and ragged
rows are one-line ``ValueError``s naming the file. String labels (a CSV column of ``cat``/``dog``,
a numpy string array) become class ids in sorted order; the names are returned as ``classes``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .cache import read_npz
from .split import split, standardize

# x_train, y_train, x_test, y_test, class names (None: the labels are numbers already)
LabeledArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "tuple[str, ...] | None"]


def _labels(y: np.ndarray) -> np.ndarray:
    """Integral labels become int64 classes; anything else stays float32 (regression targets)."""
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        return y.astype(np.int64)
    if np.all(y == np.round(y)) and y.ndim == 1:
        return y.astype(np.int64)
    return y.astype(np.float32)


def _class_ids(ys: list[np.ndarray]) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """String labels -> int64 ids into the sorted names of every label seen (train and test)."""
    names = tuple(sorted({str(v) for y in ys for v in y.ravel()}))
    index = {n: i for i, n in enumerate(names)}
    return [np.array([index[str(v)] for v in y.ravel()], dtype=np.int64).reshape(y.shape) for y in ys], names


def _check_arrays(source: str, pairs: list[tuple[str, np.ndarray, str, np.ndarray]]) -> None:
    """Equal lengths and finite numbers in every (x, y) pair."""
    for xn, x, yn, y in pairs:
        for name, a in ((xn, x), (yn, y)):
            if a.ndim == 0:
                raise ValueError(f"{source}: '{name}' is a scalar; allowed: arrays with one row per sample")
        if len(x) != len(y):
            raise ValueError(f"{source}: '{xn}' has {len(x)} rows but '{yn}' has {len(y)}; they must match")
        if len(x) == 0:
            raise ValueError(f"{source}: '{xn}' has no rows")
        for name, a in ((xn, x), (yn, y)):
            if a.dtype.kind not in "biufUS":
                raise ValueError(f"{source}: '{name}' has dtype {a.dtype}; allowed: numbers (or strings for labels)")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                row = int(np.argwhere(~np.isfinite(a))[0][0])
                raise ValueError(f"{source}: '{name}' holds NaN or inf (first at row {row}); "
                                 "allowed: finite numbers")
        if x.dtype.kind in "US":
            raise ValueError(f"{source}: '{xn}' holds strings; allowed: numbers")
    if len(pairs) == 2 and pairs[0][1].shape[1:] != pairs[1][1].shape[1:]:  # the model reads one shape
        raise ValueError(f"{source}: 'x_test' rows have shape {pairs[1][1].shape[1:]} but 'x' rows have "
                         f"{pairs[0][1].shape[1:]}; they must match")


def _finish(x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None, y_test: np.ndarray | None,
            test_fraction: float, seed: int, normalize: bool, source: str) -> LabeledArrays:
    pairs = [("x", np.asarray(x), "y", np.asarray(y))]
    if x_test is not None:
        pairs.append(("x_test", np.asarray(x_test), "y_test", np.asarray(y_test)))
    _check_arrays(source, pairs)
    ys = [p[3] for p in pairs]
    classes = None
    if any(y.dtype.kind in "US" for y in ys):
        ys, classes = _class_ids(ys)
    x, y = pairs[0][1].astype(np.float32), _labels(ys[0])
    if x_test is None:
        x_tr, y_tr, x_te, y_te = split(x, y, test_fraction, np.random.default_rng(seed))
    else:
        x_tr, y_tr, x_te, y_te = x, y, pairs[1][1].astype(np.float32), _labels(ys[1])
    if normalize:
        x_tr, x_te = standardize(x_tr, x_te)
    return x_tr, y_tr, x_te, y_te, classes


def npz(path: str, test_fraction: float = 0.2, seed: int = 0, normalize: bool = True) -> LabeledArrays:
    """Arrays ``x`` (N, ...) and ``y`` (N, ...) from an ``.npz``; ``x_test``/``y_test`` if present, else a seeded split.
    Without ``y`` the rows are unlabeled (label -1: calibration, label-free recovery, fidelity to an original).

    Returns:
        ``(x_train, y_train, x_test, y_test, classes)``; ``classes`` names the ids of string labels, else None.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an npz archive, an object (pickled) array, the file lacks ``x`` (or labels one part
            only, or has y_test without x_test), x and y differ in length, or an array holds NaN/inf.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"npz:{path}: no such file")
    try:
        a = read_npz(p)
    except ValueError as err:
        raise ValueError(f"npz:{path}: {err}; allowed: numeric arrays x, y[, x_test, y_test] (labels may be "
                         "strings) saved with np.savez") from None
    if "x" not in a:
        raise ValueError(f"npz:{path}: missing array 'x'; the file needs 'x' (and 'y', or none for unlabeled "
                         f"inputs; optionally 'x_test' and 'y_test'), found {sorted(a)}")
    if "y_test" in a and "x_test" not in a:
        raise ValueError(f"npz:{path}: 'y_test' without 'x_test'; give both, 'x_test' alone (unlabeled) or neither")
    if ("y" in a) != ("y_test" in a) and "x_test" in a:
        raise ValueError(f"npz:{path}: labels for one part only ('y' {'present' if 'y' in a else 'absent'}, "
                         f"'y_test' {'present' if 'y_test' in a else 'absent'}); label both parts or neither")
    x_test = a.get("x_test")
    y, y_test = (a["y"], a.get("y_test")) if "y" in a else (_unlabeled(a["x"]), _unlabeled(x_test))
    return _finish(a["x"], y, x_test, y_test, test_fraction, seed, normalize, f"npz:{path}")


def _unlabeled(x: np.ndarray | None) -> np.ndarray | None:
    """Labels -1 for every row of ``x`` (an npz of inputs alone: unlabeled, as ``images:DIR`` without subfolders);
    a scalar ``x`` gets a scalar, so ``_check_arrays`` names it."""
    return None if x is None else np.full(np.shape(x)[:1], -1, dtype=np.int64)


def csv_file(path: str, test_fraction: float = 0.2, seed: int = 0, normalize: bool = True,
             delimiter: str = ",") -> LabeledArrays:
    """A table whose last column is the label; an optional first row of names is a header.

    Feature cells must be finite numbers. Labels may be numbers or names (``cat``, ``dog``): names
    become class ids in sorted order, returned as ``classes``.

    Returns:
        ``(x_train, y_train, x_test, y_test, classes)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a non-numeric or non-finite feature cell, ragged rows, fewer than 2 columns, not UTF-8.
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be one character, got {delimiter!r}")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"csv:{path}: no such file")
    try:
        # -sig: Excel's "CSV UTF-8" starts with a byte-order mark, which made the first row a "header" (dropped)
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f, delimiter=delimiter) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError as err:
        raise ValueError(f"csv:{path}: not UTF-8 text (byte {err.start}); save the table as UTF-8 CSV") from None
    if rows and _is_header(rows):
        rows = rows[1:]
    if not rows:
        raise ValueError(f"csv:{path}: no data rows")
    width = len(rows[0])
    if width < 2:
        raise ValueError(f"csv:{path}: need at least 2 columns (features..., label), got {width}"
                         f"{_delimiter_hint(rows, delimiter)}")
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"csv:{path}: data row {i + 1} has {len(r)} cells; expected {width}"
                             f"{_delimiter_hint(rows, delimiter)}")
        for j, cell in enumerate(r[:-1]):
            value = _number(cell)
            if value is None or not math.isfinite(value):
                raise ValueError(f"csv:{path}: data row {i + 1}, column {j + 1} is {cell.strip()!r}; "
                                 "allowed: a finite number (only the last column, the label, may be a name)")
    x = np.array([[float(c) for c in r[:-1]] for r in rows], dtype=np.float64)
    cells = [r[-1].strip() for r in rows]
    numbers = [_number(c) for c in cells]
    y = np.array(cells) if any(v is None for v in numbers) else np.array(numbers, dtype=np.float64)
    return _finish(x, y, None, None, test_fraction, seed, normalize, f"csv:{path}")


def _delimiter_hint(rows: list[list[str]], delimiter: str) -> str:
    """How to read a table cut by another delimiter (a European Excel export uses ';'), or nothing."""
    other = next((d for d in (";", "\t", "|") if d != delimiter and d in delimiter.join(rows[0])), None)
    return f"; its rows hold {other!r}: pass the option delimiter={other!r}" if other else ""


def _is_header(rows: list[list[str]]) -> bool:
    """The first row names the columns: a non-numeric feature cell, or a non-numeric label over numeric labels."""
    first = rows[0]
    if any(_number(c) is None for c in first[:-1]):
        return True
    rest = [r[-1] for r in rows[1:] if r]
    return _number(first[-1]) is None and bool(rest) and all(_number(c) is not None for c in rest)


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None
