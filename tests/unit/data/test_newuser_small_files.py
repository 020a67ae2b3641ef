"""Files too small to split name themselves in the error: a user loading several files sees which one."""

import pytest

import slimtorch as st


def test_one_sentence_file_names_the_file_and_the_way_out(tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("only one line\n")
    with pytest.raises(ValueError) as err:
        st.data.load(f"text:{f}")
    msg = str(err.value)
    assert msg.startswith(f"text:{f}: ") and "1 rows" in msg and "at least 3" in msg
    assert "test_fraction=0" in msg
    train, test = st.data.load(f"text:{f}", test_fraction=0)  # the way out the message names works
    assert len(train) == 1 and len(test) == 0


def test_a_csv_of_one_row_names_the_file(tmp_path):
    f = tmp_path / "tiny.csv"
    f.write_text("a,b,label\n1.0,2.0,0\n")
    with pytest.raises(ValueError) as err:
        st.data.load(f"csv:{f}")
    assert str(err.value).startswith(f"csv:{f}: ") and "1 rows" in str(err.value)


def test_a_loader_message_that_names_its_source_is_not_prefixed_twice(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_text("")
    with pytest.raises(ValueError, match=r"^text:\S+empty\.txt: no sentences"):
        st.data.load(f"text:{f}")
