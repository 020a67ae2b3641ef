"""`slimtorch train` flags that cannot take effect are refused before any training: a feature layer the model lacks,
a distillation flag without --teacher, a flag the chosen optimizer or schedule never reads. Each was silently
ignored, or surfaced late (a layer typo: when distillation started, after the student-alone run had trained)."""

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


@pytest.mark.parametrize("flags,says", [
    (["--milestones", "3"], "--milestones: only used by --schedule multistep (got constant)"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum: only used by --optimizer sgd or gd (got adam)"),
    (["--betas", "0.8,0.9"], "--betas: only used by --optimizer adam or adamw (got sgd)"),
    (["--schedule", "cosine", "--gamma", "0.5"], "--gamma: only used by --schedule step or multistep"),
])
def test_a_training_flag_the_optimizer_or_schedule_never_reads_is_refused(tmp_path, capsys, flags, says):
    argv = ["train", "--model", "mlp", "--data", "digits", "--limit", "64", "--epochs", "1", *flags,
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2  # it trained without it, silently
    assert says in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_training_flags_their_optimizer_and_schedule_read_are_accepted(tmp_path):
    argv = ["train", "--model", "mlp", "--data", "digits", "--limit", "64", "--epochs", "1", "--optimizer", "adamw",
            "--betas", "0.8,0.9", "--schedule", "multistep", "--milestones", "1", "--gamma", "0.5", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
