"""`slimtorch train --loss mse|bce` on class-id data: the MLP it sizes gets one output per target, and a model
of another output width is one line, exit 2 (it was `shape '[128, 2]' is invalid for input of size 128`)."""

import pytest

from slimtorch.cli import main

BASE = ["train", "--model", "mlp", "--data", "moons", "--limit", "64", "--epochs", "1", "--quiet"]


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_mlp_sized_for_the_loss_trains(tmp_path, loss):
    assert main(BASE + ["--loss", loss, "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "model").is_dir()


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_two_outputs_for_one_target_is_one_line(tmp_path, capsys, loss):
    argv = BASE + ["--loss", loss, "--model-arg", "widths=[2,8,2]", "--out", str(tmp_path / "m")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (f"slimtorch: error: model: loss '{loss}' needs one output per target, but the model gives 2 "
                   "outputs per sample and data 'moons' 1 target; give the model 1 output, or use loss "
                   "'cross_entropy' for class ids\n")
    assert not (tmp_path / "m").exists()
