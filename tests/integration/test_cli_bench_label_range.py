"""`slimtorch bench` on labelled data whose labels a classifier cannot score: class ids past the model's
outputs, negative ids, fractional labels. Each was a traceback (IndexError: Target 12 is out of bounds) or
a misleading "the model rejects these inputs"; now one line naming --data, exit 2, before any timing."""

import numpy as np
import pytest
import torch

import slimtorch as st
from slimtorch.cli import main


def _saved(tmp_path):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[6, 8, 3]), tmp_path / "model")
    return str(tmp_path / "model")


def _npz(tmp_path, y):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).random((len(y), 6), dtype=np.float32), y=np.asarray(y))
    return f"npz:{path}"


@pytest.mark.parametrize("y,expect", [
    ([0, 1, 2, 5] * 10, "--data: npz:{p}: label 5 is not a class of the model, which gives 3 class scores; "
                        "allowed: class ids 0..2"),
    ([0, 1, -4, 2] * 10, "--data: npz:{p}: label -4 is not a class of the model, which gives 3 class scores; "
                         "allowed: class ids 0..2"),
    ([0, 1, 0.5, 2] * 10, "--data: npz:{p}: label 0.5 is not a class id, but the model gives 3 class scores; "
                          "allowed: class ids 0..2"),
])
def test_labels_the_model_cannot_score_are_one_line(tmp_path, capsys, y, expect):
    folder, data = _saved(tmp_path), _npz(tmp_path, y)
    assert main(["bench", folder, "--data", data, "--repeats", "1", "--batch-sizes", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"slimtorch: error: {expect.format(p=data[4:])}\n"


@pytest.mark.parametrize("y", [[0, 1, 2, 1] * 10, [-1] * 40])  # class ids in range; unlabeled rows
def test_labels_it_can_score_still_bench(tmp_path, capsys, y):
    folder, data = _saved(tmp_path), _npz(tmp_path, y)
    assert main(["bench", folder, "--data", data, "--repeats", "1", "--batch-sizes", "1",
                 "--backends", "eager"]) == 0
