"""scikit-learn's bundled 8x8 handwritten digits (1797 images, no download)."""

from __future__ import annotations

import numpy as np

from .split import Arrays, split, standardize


def digits(test_fraction: float = 0.2, seed: int = 0, normalize: bool = True) -> Arrays:
    """Images (N, 1, 8, 8) float32 (pixels 0..16 scaled to 0..1), labels int64, seeded split.

    Args:
        test_fraction: share of images held out.
        seed: split seed.
        normalize: standardise with the train mean/std (one scalar, as for MNIST).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    x_tr, y_tr, x_te, y_te = split(x, y, test_fraction, np.random.default_rng(seed))
    if normalize:
        x_tr, x_te = standardize(x_tr, x_te)
    return x_tr, y_tr, x_te, y_te
