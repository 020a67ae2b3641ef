"""`slimtorch optimize` on labels that are no class ids (a negative id among real ones, a fractional label):
one --data line, exit 2, before any training (a negative id was an IndexError traceback from the loss)."""

import numpy as np
import pytest
import torch

import slimtorch as st
from slimtorch.cli import main


@pytest.mark.parametrize("bad,shown", [(-4, "-4"), (0.5, "0.5")])
@pytest.mark.parametrize("model", ["saved", "zoo"])
def test_labels_that_are_no_class_ids_are_one_line(tmp_path, capsys, bad, shown, model):
    y = np.array([0, 1, 2, 1] * 30, dtype=np.float64 if isinstance(bad, float) else np.int64)
    y[5] = bad
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).random((len(y), 6), dtype=np.float32), y=y)
    torch.manual_seed(0)
    if model == "saved":
        st.save(st.models.build("mlp", widths=[6, 8, 3]), tmp_path / "m")
        args = [str(tmp_path / "m")]
    else:
        args = ["mlp", "--model-arg", "widths=[6, 8, 3]"]
    code = main(["optimize", *args, "--data", f"npz:{path}", "--minutes", "0.1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"slimtorch: error: --data: npz:{path}: label {shown} is not a class id; allowed: class ids "
                   "0, 1, ... (or no labels: -1 on every row)\n")
    assert not (tmp_path / "o").exists()
