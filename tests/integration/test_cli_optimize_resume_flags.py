"""`slimtorch optimize --resume` with other training flags than the search it continues (--epochs 2 after 1)
silently reused the original trained with the old ones (its optimized.yaml then said epochs 2 and reproduced
nothing). The original now records how it was trained, and --resume with other flags is one line, exit 2."""

import pytest

from slimtorch.cli import main

BASE = ["optimize", "mlp", "--model-arg", "widths=[64, 8, 10]", "--data", "digits", "--minutes", "0.05",
        "--no-int8"]


@pytest.fixture
def interrupted(tmp_path):
    out = str(tmp_path / "o")
    assert main([*BASE, "--epochs", "1", "--out", out]) == 0
    return out


def test_resume_with_other_epochs_is_refused(interrupted, capsys):
    capsys.readouterr()
    assert main([*BASE, "--epochs", "2", "--out", interrupted, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err == (f"slimtorch: error: --resume: {interrupted}/original was trained with other settings "
                   "(train.epochs: 1 there, 2 now); allowed: the flags of the search it continues, or --force "
                   "to start over\n")


def test_resume_with_the_same_flags_reuses_the_original(interrupted, capsys):
    capsys.readouterr()
    assert main([*BASE, "--epochs", "1", "--out", interrupted, "--resume"]) == 0
    assert "resuming: the original trained before" in capsys.readouterr().out
