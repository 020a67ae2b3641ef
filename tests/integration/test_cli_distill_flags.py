"""`slimtorch train --teacher` flags that name layers are checked before any training: one line naming the
flag and the layers there are (a typo surfaced only when distillation started, after the student-alone run)."""

import pytest
import torch

import slimtorch as st
from slimtorch.cli import main


@pytest.mark.parametrize("pair,role", [("fc1=nope", "teacher"), ("nope=fc1", "student")])
def test_a_feature_layer_that_does_not_exist_is_one_line_before_training(tmp_path, capsys, monkeypatch, pair, role):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[64, 8, 10]), tmp_path / "teacher", extra={"input_shape": [1, 8, 8]})
    import slimtorch.training as training

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the flags were checked")

    monkeypatch.setattr(training, "fit", no_training)
    argv = ["train", "--model", "mlp", "--data", "digits", "--limit", "64", "--epochs", "1",
            "--teacher", str(tmp_path / "teacher"), "--distill-feature", pair, "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"slimtorch: error: --distill-feature: the {role} has no layer 'nope'; its layers: flatten, fc1, " \
                  "act1, fc2\n"
    assert not (tmp_path / "o" / "model").exists()


@pytest.mark.parametrize("flag", [["--temperature", "2"], ["--alpha", "auto"], ["--distill-feature", "fc1=fc1"]])
def test_a_distillation_flag_without_a_teacher_is_refused(tmp_path, capsys, flag):
    argv = ["train", "--model", "mlp", "--data", "digits", "--limit", "64", "--epochs", "1", *flag,
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2  # it trained the model alone, the flag silently ignored
    err = capsys.readouterr().err
    assert err.startswith(f"slimtorch: error: {flag[0]}: a distillation flag, which needs --teacher")
    assert not (tmp_path / "o").exists()
