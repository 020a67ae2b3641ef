"""Data paths a user gets wrong, through the CLI: one line (exit 2) naming what is wrong and what is allowed.
A folder given as text:FILE said "file not found"; a photo whose header declares billions of pixels (a
decompression bomb) was a Pillow traceback."""

import struct
import zlib

import pytest
import torch

import slimtorch as st
from slimtorch.cli import main


def _png_header(path, width, height):
    """A PNG that declares ``width`` x ``height`` pixels and holds none (a few bytes on disk)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[4, 3, 2]), tmp_path / "m", extra={"input_shape": [4]})
    return str(tmp_path / "m")


@pytest.mark.parametrize("case, words", [("text-folder", "is a folder; allowed: a file"),
                                         ("images-file", "is a file; allowed: a folder of .jpg/.png photos"),
                                         ("images-missing", "folder not found"),
                                         ("bomb", "too large to decode safely")])
def test_wrong_data_paths_are_one_line(tmp_path, saved, capsys, case, words):
    (tmp_path / "photos").mkdir()
    _png_header(tmp_path / "photos" / "bomb.png", 100_000, 100_000)
    data = {"text-folder": f"text:{tmp_path / 'photos'}", "images-file": f"images:{tmp_path / 'photos' / 'bomb.png'}",
            "images-missing": f"images:{tmp_path / 'nope'}", "bomb": f"images:{tmp_path / 'photos'}"}[case]
    assert main(["bench", saved, "--data", data, "--repeats", "1", "--batch-sizes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_a_decompression_bomb_is_a_value_error_from_the_api(tmp_path):
    _png_header(tmp_path / "a.png", 100_000, 100_000)
    with pytest.raises(ValueError, match=r"^images:.*too large to decode safely.*10000000000 pixels"):
        st.data.load(f"images:{tmp_path}")


def test_a_missing_relative_data_path_names_the_folder_it_was_read_from(tmp_path, saved, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", saved, "--data", "text:recipes/sentences.txt", "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"file not found: recipes/sentences.txt (relative to the current folder, {tmp_path})" in err
