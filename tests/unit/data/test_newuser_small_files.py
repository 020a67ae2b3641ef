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


def test_an_unreadable_photo_is_named_once(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError) as err:
        st.data.load(f"images:{tmp_path}", size=8, test_fraction=0)
    assert str(err.value).startswith("images: ") and "bad.png is not a readable" in str(err.value)


def test_hidden_files_and_folders_are_not_photos_nor_classes(tmp_path):
    from PIL import Image

    for folder in ("cat", "dog", ".ipynb_checkpoints"):  # a notebook's checkpoints, a Mac's AppleDouble files
        (tmp_path / folder).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / folder / f"p{i}.png")
    (tmp_path / "cat" / "._p0.png").write_bytes(b"\x00\x05\x16\x07")
    train, test = st.data.load(f"images:{tmp_path}", size=8, test_fraction=0)
    assert train.classes == ("cat", "dog") and len(train) == 4


def test_a_16_bit_grey_png_keeps_its_range_not_clipped_to_white(tmp_path):
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)  # black to white
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    train, _ = st.data.load(f"images:{tmp_path}", size=32, resize=32, test_fraction=0, normalize=False)
    x = train.x[0]
    assert x.shape == (3, 32, 32) and abs(float(x.mean()) - 0.5) < 0.02  # a ramp averages half grey
    assert float(x.min()) < 0.01 and float(x.max()) > 0.99
