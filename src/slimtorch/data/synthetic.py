"""Small synthetic 2-D datasets, generated from a seed: XOR, two moons, spirals."""

from __future__ import annotations

import numpy as np

from .split import Arrays, split, standardize


def xor() -> Arrays:
    """The four XOR points; train and test are the same 4 rows. y is float (4, 1) for BCE/MSE."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return x, y, x.copy(), y.copy()


def moons(n: int = 1000, noise: float = 0.1, test_fraction: float = 0.25, seed: int = 0,
          normalize: bool = True) -> Arrays:
    """Two interleaving half circles (as sklearn's make_moons), Gaussian noise, seeded.

    Args:
        n: total points (split into train/test by ``test_fraction``).
        noise: standard deviation of the added noise.
        test_fraction: share of points held out.
        seed: generator seed (same seed, same data).
        normalize: standardise each feature with the train statistics.
    """
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    x = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], 1)])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)]).astype(np.int64)
    x = x + rng.normal(scale=noise, size=x.shape)
    return _finish(x, y, test_fraction, rng, normalize)


def spirals(n: int = 1500, classes: int = 3, noise: float = 0.2, turns: float = 1.0, test_fraction: float = 0.25,
            seed: int = 0, normalize: bool = True) -> Arrays:
    """``classes`` interleaved spiral arms (the classic not-linearly-separable toy problem), seeded.

    Args:
        n: total points, shared (as evenly as possible) among the arms.
        classes: number of arms (= classes).
        noise: standard deviation of the angular noise.
        turns: how many half-turns each arm makes (higher is harder).
        test_fraction: share of points held out.
        seed: generator seed.
        normalize: standardise each feature with the train statistics.
    """
    rng = np.random.default_rng(seed)
    if classes < 2 or n < classes:
        raise ValueError(f"spirals needs classes >= 2 and n >= classes, got classes={classes}, n={n}")
    xs, ys = [], []
    for k in range(classes):
        per = n // classes + (k < n % classes)  # spread the remainder so exactly n points come out
        r = np.linspace(0.05, 1.0, per)
        theta = np.linspace(k * 2 * np.pi / classes, k * 2 * np.pi / classes + turns * 2 * np.pi, per)
        theta = theta + rng.normal(scale=noise, size=per)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], 1))
        ys.append(np.full(per, k, dtype=np.int64))
    return _finish(np.concatenate(xs), np.concatenate(ys), test_fraction, rng, normalize)


def _finish(x: np.ndarray, y: np.ndarray, test_fraction: float, rng: np.random.Generator, normalize: bool) -> Arrays:
    x_tr, y_tr, x_te, y_te = split(x.astype(np.float32), y, test_fraction, rng)
    if normalize:
        x_tr, x_te = standardize(x_tr, x_te)
    return x_tr, y_tr, x_te, y_te
