import numpy as np
import pytest
import torch

import slimtorch as st


def test_npz_round_trip_with_explicit_test(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3, 4)).astype(np.float32), rng.integers(0, 3, size=20)
    xt, yt = rng.normal(size=(6, 3, 4)).astype(np.float32), rng.integers(0, 3, size=6)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt)
    train, test = st.data.load(f"npz:{path}", normalize=False)
    torch.testing.assert_close(train.x, torch.from_numpy(x))
    torch.testing.assert_close(test.x, torch.from_numpy(xt))
    assert train.y.dtype == torch.int64 and train.y.tolist() == y.tolist() and test.y.tolist() == yt.tolist()


def test_npz_split_keeps_every_row_once(tmp_path):
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    train, test = st.data.load(f"npz:{path}", normalize=False, test_fraction=0.25, seed=1)
    assert len(train) == 15 and len(test) == 5
    rows = torch.cat([train.x, test.x])
    labels = torch.cat([train.y, test.y])
    assert sorted(labels.tolist()) == list(range(20))
    torch.testing.assert_close(rows[:, 0], labels.float() * 2)  # x stayed paired with its y


def test_npz_normalize_uses_train_stats(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 3.0, size=(50, 4)).astype(np.float32)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=rng.integers(0, 2, size=50))
    train, _ = st.data.load(f"npz:{path}")
    torch.testing.assert_close(train.x.mean(0), torch.zeros(4), atol=1e-5, rtol=0)


def test_npz_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        st.data.load(f"npz:{tmp_path / 'missing.npz'}")
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"missing array\(s\) \['y'\]"):
        st.data.load(f"npz:{path}")


def test_csv_round_trip_with_header(tmp_path):
    rows = [[0.5, 1.0, 0], [1.5, -2.0, 1], [2.5, 3.0, 2], [3.5, 4.0, 1], [4.5, 5.0, 0]]
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    train, test = st.data.load(f"csv:{path}", normalize=False, test_fraction=0.2)
    assert len(train) == 4 and len(test) == 1
    got = {tuple(x.tolist()) + (int(y),) for x, y in zip(torch.cat([train.x, test.x]), torch.cat([train.y, test.y]))}
    assert got == {(r[0], r[1], r[2]) for r in rows}
    assert train.y.dtype == torch.int64


def test_csv_float_labels_are_regression_targets(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("1,0.25\n2,0.5\n3,0.75\n4,1.25\n")
    train, _ = st.data.load(f"csv:{path}", normalize=False, test_fraction=0.25)
    assert train.y.dtype == torch.float32


def test_csv_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,2,0\n3,x,1\n")
    with pytest.raises(ValueError, match="non-numeric"):
        st.data.load(f"csv:{path}")
    path.write_text("1\n2\n")
    with pytest.raises(ValueError, match="at least 2 columns"):
        st.data.load(f"csv:{path}")
