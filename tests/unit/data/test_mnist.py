import gzip
import pickle

import numpy as np
import pytest
import torch

import slimtorch as st
from slimtorch.data import cache, mnist


@pytest.fixture(scope="module")
def mnist_data():
    return st.data.load("mnist")


def test_sizes_dtypes_and_classes(mnist_data):
    train, test = mnist_data
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert set(train.y.unique().tolist()) == set(range(10)) == set(test.y.unique().tolist())
    # every class is well represented (MNIST has 5421..6742 train images per class)
    counts = torch.bincount(train.y, minlength=10)
    assert int(counts.min()) > 5000 and int(counts.max()) < 7000


def test_normalisation_stats(mnist_data):
    train, _ = mnist_data
    assert abs(float(train.x.mean())) < 0.01
    assert abs(float(train.x.std()) - 1.0) < 0.01
    # raw pixels are k/255: the normalisation is exactly (p - 0.1307) / 0.3081
    raw = train.x[:100] * mnist.STD + mnist.MEAN
    torch.testing.assert_close(raw * 255, (raw * 255).round(), atol=1e-3, rtol=0)
    assert float(raw.min()) > -1e-5 and float(raw.max()) < 1 + 1e-5


def test_unnormalised_and_flat():
    train, test = st.data.load("mnist", normalize=False, flatten=True, limit=50)
    assert train.x.shape == (50, 784) and test.x.shape == (50, 784)
    assert float(train.x.min()) >= 0.0 and float(train.x.max()) <= 1.0
    assert float(train.x.max()) > 0.99  # some ink is full black


def test_cached_load_never_unpickles(monkeypatch):
    mnist.mnist_arrays()  # make sure the cache exists

    def fail(*args, **kwargs):
        raise AssertionError("the cached MNIST must be read without unpickling")

    monkeypatch.setattr(pickle, "load", fail)
    monkeypatch.setattr(gzip, "open", fail)
    train, test = st.data.load("mnist", limit=10)
    assert len(train) == 10 and len(test) == 10


def test_cache_is_built_once_atomically_and_without_pickle(monkeypatch, tmp_path):
    monkeypatch.setenv("SLIMTORCH_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(5, dtype=np.int64)}

    first = cache.cached_arrays("thing-v1", build)
    second = cache.cached_arrays("thing-v1", build)
    assert calls == [1]
    np.testing.assert_array_equal(first["a"], second["a"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing-v1.npz"]  # no temp files left behind
    np.savez(tmp_path / "evil.npz", a=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="array .a. holds Python objects .* never loaded"):
        cache.read_npz(tmp_path / "evil.npz")
