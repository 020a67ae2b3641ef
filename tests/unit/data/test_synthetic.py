import numpy as np
import pytest
import torch

import slimtorch as st


def test_xor_is_the_four_points():
    train, test = st.data.load("xor")
    expected_x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    expected_y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    for ds in (train, test):
        torch.testing.assert_close(ds.x, expected_x)
        torch.testing.assert_close(ds.y, expected_y)
        assert ds.y.dtype == torch.float32


@pytest.mark.parametrize("name", ["moons", "spirals"])
def test_synthetic_same_seed_same_data(name):
    a_train, a_test = st.data.load(name, seed=3)
    b_train, b_test = st.data.load(name, seed=3)
    c_train, _ = st.data.load(name, seed=4)
    assert torch.equal(a_train.x, b_train.x) and torch.equal(a_test.y, b_test.y)
    assert not torch.equal(a_train.x, c_train.x)


@pytest.mark.parametrize("name,classes", [("moons", 2), ("spirals", 3)])
def test_synthetic_shapes_classes_and_standardised(name, classes):
    train, test = st.data.load(name, n=400, test_fraction=0.25)
    assert train.x.shape == (300, 2) and test.x.shape == (100, 2)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert set(train.y.tolist()) == set(range(classes))
    torch.testing.assert_close(train.x.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.x.std(0, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)


def test_spirals_classes_option_and_raw_scale():
    train, _ = st.data.load("spirals", n=500, classes=5, normalize=False)
    assert set(train.y.tolist()) == set(range(5))
    # arms have radius <= 1 before standardisation
    assert float(train.x.norm(dim=1).max()) <= 1.0 + 1e-6


def test_moons_is_nearly_separable_by_its_geometry():
    # noiseless moons: the upper arc has y >= 0 and the lower one is centred on x=1
    train, _ = st.data.load("moons", n=200, noise=0.0, normalize=False)
    upper = train.x[train.y == 0]
    assert float(upper[:, 1].min()) >= -1e-6
    torch.testing.assert_close(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5, rtol=0)


def test_digits_shapes_and_split():
    train, test = st.data.load("digits")
    assert len(train) + len(test) == 1797
    assert train.x.shape[1:] == (1, 8, 8) and train.y.dtype == torch.int64
    assert set(train.y.tolist()) == set(range(10))
    assert abs(float(train.x.mean())) < 1e-4 and abs(float(train.x.std()) - 1) < 1e-3
    flat, _ = st.data.load("digits", flatten=True, normalize=False)
    assert flat.x.shape[1:] == (64,)
    assert float(flat.x.min()) >= 0.0 and float(flat.x.max()) <= 1.0


def test_limit_and_flatten():
    train, test = st.data.load("moons", limit=7)
    assert len(train) == 7 and len(test) == 7
    with pytest.raises(ValueError, match="limit"):
        st.data.load("moons", limit=0)


def test_bad_test_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        st.data.load("moons", test_fraction=1.5)
    with pytest.raises(ValueError, match="empty"):
        st.data.load("moons", n=3, test_fraction=0.01)


def test_split_keeps_pairs_together():
    # label is recoverable from x for noiseless moons (the arcs do not overlap): check rows were not mixed
    train, _ = st.data.load("moons", n=100, noise=0.0, normalize=False)
    lower = train.y == 1
    centre = torch.tensor([1.0, 0.5])
    torch.testing.assert_close((train.x[lower] - centre).norm(dim=1), torch.ones(int(lower.sum())), atol=1e-5,
                               rtol=0)
    assert np.isfinite(train.x.numpy()).all()
