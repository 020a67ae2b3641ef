import random
import sys

import numpy as np
import pytest
import torch

import slimtorch as st


@pytest.fixture
def small_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SLIMTORCH_CACHE", str(tmp_path))
    return tmp_path


def test_generated_offline_cached_and_reproducible(small_cache, monkeypatch):
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    train, test = st.data.load("mnist1d", num_samples=200)
    assert train.x.shape == (160, 40) and test.x.shape == (40, 40)
    assert train.y.dtype == torch.int64 and set(train.y.tolist()) <= set(range(10))
    assert (small_cache / "mnist1d-v1-n200.npz").exists()
    # the generator reseeds numpy/random globally; the caller's streams must be untouched
    assert np.array_equal(np.random.get_state()[1], np_before) and random.getstate() == py_before
    assert "requests" not in sys.modules or sys.modules["requests"].__name__ == "requests"
    # second load comes from the cache: generating again would fail
    import slimtorch.data.mnist1d as m1d

    monkeypatch.setattr(m1d, "_generate", lambda n: (_ for _ in ()).throw(AssertionError("regenerated")))
    again, _ = st.data.load("mnist1d", num_samples=200)
    assert torch.equal(again.x, train.x)


def test_bad_num_samples(small_cache):
    with pytest.raises(ValueError, match="num_samples"):
        st.data.load("mnist1d", num_samples=3)
