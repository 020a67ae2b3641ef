"""Array helpers shared by the loaders: seeded train/test split and train-statistics standardisation."""

from __future__ import annotations

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test


def split(x: np.ndarray, y: np.ndarray, test_fraction: float, rng: np.random.Generator) -> Arrays:
    """Shuffle rows with ``rng`` and hold out ``test_fraction`` of them.

    Raises:
        ValueError: ``test_fraction`` is not in (0, 1) or leaves an empty side.
    """
    check_fraction(test_fraction)
    n_test = int(round(len(x) * test_fraction))
    if n_test == 0 or n_test == len(x):
        raise ValueError(f"test_fraction={test_fraction} of {len(x)} rows leaves an empty train or test set; "
                         f"it needs at least {min_rows(test_fraction)} rows")
    perm = rng.permutation(len(x))
    test, train = perm[:n_test], perm[n_test:]
    return x[train], y[train], x[test], y[test]


def check_fraction(test_fraction: float) -> None:
    """``test_fraction`` is a number in (0, 1): a string or a bool is refused by name, not compared.

    Raises:
        ValueError: anything else (the message names the field and the allowed range).
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.floating)):
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")


def min_rows(test_fraction: float) -> int:
    """The fewest rows :func:`split` can cut with ``test_fraction`` in (0, 1), each side keeping at least one.

    Example:
        >>> min_rows(0.2)
        3

    Raises:
        ValueError: ``test_fraction`` is not in (0, 1) (outside it no count of rows would do).
    """
    check_fraction(test_fraction)
    n = max(2, int(0.5 / min(test_fraction, 1 - test_fraction)))  # below this one side rounds to zero rows
    while not 0 < round(n * test_fraction) < n:
        n += 1
    return n


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise with the *train* statistics: per feature for tables (N, F), one scalar for images/signals."""
    axis = 0 if x_train.ndim == 2 else None
    mean = x_train.mean(axis=axis, keepdims=axis is not None)
    std = x_train.std(axis=axis, keepdims=axis is not None)
    std = np.where(std > 0, std, 1.0)  # a constant feature stays at 0 instead of dividing by zero
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)
