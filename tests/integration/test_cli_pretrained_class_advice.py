"""Data of more classes than a pretrained zoo model's shipped head: the advice was "add --model-arg
num_classes=15", which then fails ("pretrained=True needs num_classes=10"). With pretrained=true it now says
the shipped weights give 10 classes, and that a fresh model (no pretrained=true) takes num_classes=15."""

import numpy as np
import pytest

from slimtorch.cli import main


@pytest.mark.parametrize("command", [["train", "--epochs", "1"], ["optimize", "--minutes", "0.1"]])
def test_more_classes_than_the_shipped_head(tmp_path, capsys, command):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.random((60, 1, 28, 28), dtype=np.float32), y=np.arange(60) % 15)
    code = main([command[0], *(["--model"] if command[0] == "train" else []), "mnist_cnn", "--model-arg",
                 "pretrained=true", "--data", f"npz:{path}", *command[1:], "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "15 classes" in err
    assert err.rstrip().endswith("the shipped weights give 10 classes: give data of at most 10 classes, or "
                                 "drop --model-arg pretrained=true and add --model-arg num_classes=15 "
                                 "(trained from scratch)")
