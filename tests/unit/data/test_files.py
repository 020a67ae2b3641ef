import io
import pickle

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
    np.savez(path, y=np.zeros(3))
    with pytest.raises(ValueError, match=r"missing array 'x'; the file needs 'x' \(and 'y', or none for unlabeled"):
        st.data.load(f"npz:{path}")
    np.savez(path, x=np.zeros((3, 2)), x_test=np.zeros((2, 2)), y_test=np.zeros(2))
    with pytest.raises(ValueError, match=r"labels for one part only \('y' absent, 'y_test' present\)"):
        st.data.load(f"npz:{path}")
    np.savez(path, x=np.zeros((3, 2)), y_test=np.zeros(2))
    with pytest.raises(ValueError, match="'y_test' without 'x_test'"):
        st.data.load(f"npz:{path}")


def test_an_npz_of_inputs_alone_is_unlabeled(tmp_path):
    path = tmp_path / "inputs.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(10, 3)))
    train, test = st.data.load(f"npz:{path}", test_fraction=0.2)
    assert len(train) == 8 and len(test) == 2
    assert bool((train.y == -1).all()) and bool((test.y == -1).all())
    np.savez(path, x=np.zeros((4, 3)), x_test=np.ones((2, 3)))
    train, test = st.data.load(f"npz:{path}", normalize=False)
    assert len(train) == 4 and bool((test.x == 1).all()) and bool((test.y == -1).all())
    for arrays, name in ((dict(x=np.float32(3)), "x"), (dict(x=np.zeros((4, 3)), x_test=np.float32(1)), "x_test")):
        np.savez(path, **arrays)  # a scalar without labels: the same one line as with them (was a TypeError)
        with pytest.raises(ValueError, match=f"'{name}' is a scalar; allowed: arrays with one row per sample"):
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
    with pytest.raises(ValueError, match="column 2 is 'x'; allowed: a finite number"):
        st.data.load(f"csv:{path}")
    path.write_text("1\n2\n")
    with pytest.raises(ValueError, match="at least 2 columns"):
        st.data.load(f"csv:{path}")


def test_csv_string_labels_become_sorted_class_ids(tmp_path):
    path = tmp_path / "pets.csv"
    rows = [(0.1, 1.0, "dog"), (0.2, 2.0, "cat"), (0.3, 3.0, "emu"), (0.4, 4.0, "cat"), (0.5, 5.0, "dog")]
    path.write_text("a,b,animal\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    train, test = st.data.load(f"csv:{path}", normalize=False, test_fraction=0.2)
    assert train.classes == test.classes == ("cat", "dog", "emu")
    assert train.y.dtype == torch.int64
    got = {(round(float(x[0]), 3), train.classes[int(y)]) for x, y in zip(torch.cat([train.x, test.x]),
                                                                             torch.cat([train.y, test.y]))}
    assert got == {(a, c) for a, _, c in rows}  # each row kept its own name
    assert train.subset(2).classes == train.classes


def test_numeric_labels_have_no_class_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    train, _ = st.data.load(f"csv:{path}", test_fraction=0.25)
    assert train.classes is None


def test_npz_string_labels_shared_between_train_and_test(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.array(["b", "a", "b"]), x_test=np.zeros((2, 2)),
             y_test=np.array(["c", "a"]))
    train, test = st.data.load(f"npz:{path}", normalize=False)
    assert train.classes == ("a", "b", "c")
    assert train.y.tolist() == [1, 0, 1] and test.y.tolist() == [2, 0]


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "NaN", "x"])
def test_csv_rejects_non_finite_or_text_feature_cells(tmp_path, cell):
    path = tmp_path / "bad.csv"
    path.write_text(f"1,2,0\n3,{cell},1\n5,6,0\n")
    with pytest.raises(ValueError, match=rf"data row 2, column 2 is '{cell}'; allowed: a finite number"):
        st.data.load(f"csv:{path}")


def test_csv_rejects_nan_label_and_ragged_rows(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,2,0\n3,4,nan\n5,6,1\n")
    with pytest.raises(ValueError, match=r"'y' holds NaN or inf \(first at row 1\)"):
        st.data.load(f"csv:{path}")
    path.write_text("1,2,0\n3,4\n")
    with pytest.raises(ValueError, match="data row 2 has 2 cells; expected 3"):
        st.data.load(f"csv:{path}")


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"a,b,label\n1,2,caf\xe9\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        st.data.load(f"csv:{path}")


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((10, 2)), "y": np.zeros(7, int)}, "'x' has 10 rows but 'y' has 7"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(4, int), "x_test": np.zeros((3, 2)), "y_test": np.zeros(2, int)},
     "'x_test' has 3 rows but 'y_test' has 2"),
    ({"x": np.array([[0.0, np.inf]] * 4), "y": np.zeros(4, int)}, r"'x' holds NaN or inf \(first at row 0\)"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, np.nan, 1])}, r"'y' holds NaN or inf \(first at row 2\)"),
    ({"x": np.zeros((0, 2)), "y": np.zeros(0, int)}, "'x' has no rows"),
])
def test_npz_rejects_inconsistent_arrays(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        st.data.load(f"npz:{path}")


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("write, says", [
    (lambda p: np.savez(p, x=np.array([[1.0, 2.0]], dtype=object), y=np.array([0])),
     "array 'x' holds Python objects (a pickled object array), which are never loaded"),
    (lambda p: p.write_bytes(pickle.dumps({"x": [1.0]})), "not an .npz archive of arrays (np.savez) but a pickle"),
    (lambda p: p.write_bytes(_npy(np.zeros(3))), "one .npy array, not an .npz archive of named arrays"),
])
def test_npz_that_is_no_plain_archive_is_one_line_naming_the_file(tmp_path, write, says):
    path = tmp_path / "d.npz"
    write(path)
    with pytest.raises(ValueError) as err:  # it was numpy's bare "Object arrays cannot be loaded when ..."
        st.data.load(f"npz:{path}")
    msg = str(err.value)
    assert msg.startswith(f"npz:{path}: {says}") and "\n" not in msg
    assert msg.endswith("allowed: numeric arrays x, y[, x_test, y_test] (labels may be strings) saved with np.savez")


@pytest.mark.parametrize("header", ["", "a,b,label\r\n"])
def test_csv_with_a_byte_order_mark_keeps_every_row(tmp_path, header):
    """Excel's "CSV UTF-8" starts with a BOM: the first data row read as a header and was silently dropped."""
    rows = "".join(f"{i}.0,{2 * i},{i % 2}\r\n" for i in range(6))
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    plain.write_text(header + rows, encoding="utf-8", newline="")
    excel.write_bytes(b"\xef\xbb\xbf" + (header + rows).encode())
    a = st.data.load(f"csv:{plain}", normalize=False, test_fraction=0.5)
    b = st.data.load(f"csv:{excel}", normalize=False, test_fraction=0.5)
    for x, y in zip(a, b):
        assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y)
    assert len(b[0]) + len(b[1]) == 6


def test_csv_with_another_delimiter_names_the_option(tmp_path):
    f = tmp_path / "semi.csv"
    f.write_text("1;2;0\n3;4;1\n5;6;0\n7;8;1\n")  # a European Excel export: ';' between cells
    with pytest.raises(ValueError, match=r"got 1; its rows hold ';': pass the option delimiter=';'"):
        st.data.load(f"csv:{f}")
    (tmp_path / "commas.csv").write_text("1,5;2;0\n3;4;1\n")  # decimal commas: ragged rows
    with pytest.raises(ValueError, match=r"row 2 has 1 cells; expected 2; its rows hold ';'"):
        st.data.load(f"csv:{tmp_path / 'commas.csv'}")
    train, test = st.data.load(f"csv:{f}", delimiter=";", test_fraction=0.5)
    assert len(train) + len(test) == 4
