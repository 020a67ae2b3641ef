"""MNIST-1D generated offline by the ``mnist1d`` package (never its download path), cached as .npz."""

from __future__ import annotations

import importlib
import random
import sys
import types

import numpy as np

from .cache import cached_arrays
from .offline import MissingPackageError
from .split import Arrays


def _import_mnist1d() -> types.ModuleType:
    """Import ``mnist1d.data``. The package imports ``requests`` at module level only for its optional
    download; when requests is absent a stand-in that refuses network access is used during the import."""
    stub = None
    if importlib.util.find_spec("requests") is None:
        stub = types.ModuleType("requests")

        def _no_network(*args, **kwargs):
            raise RuntimeError("slimtorch generates MNIST-1D offline; downloading is disabled")

        stub.get = _no_network
        sys.modules["requests"] = stub
    try:
        return importlib.import_module("mnist1d.data")
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] == "mnist1d":
            raise MissingPackageError("package 'mnist1d' is not installed; install it with: "
                                      "pip install --no-deps mnist1d") from None
        raise
    finally:
        if stub is not None and sys.modules.get("requests") is stub:
            del sys.modules["requests"]


def _generate(num_samples: int) -> dict[str, np.ndarray]:
    m = _import_mnist1d()
    args = m.get_dataset_args()
    args.num_samples = num_samples
    # make_dataset reseeds the global numpy/random generators; keep the caller's streams untouched
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = m.make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x_train": d["x"].astype(np.float32), "y_train": d["y"].astype(np.int64),
            "x_test": d["x_test"].astype(np.float32), "y_test": d["y_test"].astype(np.int64)}


def mnist1d(num_samples: int = 5000) -> Arrays:
    """The standard MNIST-1D (generator seed 42 as published; 80/20 split): signals (N, 40), labels int64.

    The generator already centres the data and scales it to unit std, so ``normalize`` changes nothing.

    Args:
        num_samples: total signals (the published dataset uses 5000: 4000 train / 1000 test).
    """
    if num_samples < 10:
        raise ValueError(f"num_samples must be >= 10 (one per class), got {num_samples}")
    a = cached_arrays(f"mnist1d-v1-n{num_samples}", lambda: _generate(num_samples))
    return a["x_train"], a["y_train"], a["x_test"], a["y_test"]
