"""`slimtorch train --teacher DIR`: a teacher that does not fit the data or the student is one line,
exit 2, before training (it was a RuntimeError traceback from inside the distillation loss)."""

import torch

import slimtorch as st
from slimtorch.cli import main

BASE = ["train", "--model", "mlp", "--data", "digits", "--limit", "100", "--epochs", "1", "--quiet"]


def _teacher(tmp_path, widths):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=widths), tmp_path / "teacher")
    return str(tmp_path / "teacher")


def test_teacher_that_rejects_the_inputs(tmp_path, capsys):
    teacher = _teacher(tmp_path, [3, 8, 10])  # trained on 3 features; digits has 64
    assert main(BASE + ["--out", str(tmp_path / "s"), "--teacher", teacher]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slimtorch: error: --teacher: rejects input of shape [1, 8, 8]") and err.count("\n") == 1
    assert not (tmp_path / "s" / "model").exists()


def test_teacher_whose_outputs_differ_from_the_students(tmp_path, capsys):
    teacher = _teacher(tmp_path, [64, 8, 10])
    argv = BASE + ["--model-arg", "widths=[64,8,12]", "--out", str(tmp_path / "s"), "--teacher", teacher]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--teacher: gives outputs of shape [10] per sample but the student [12]" in err and err.count("\n") == 1
    assert main(BASE + ["--model-arg", "widths=[64,8,10]", "--out", str(tmp_path / "ok"), "--teacher", teacher]) == 0


def test_unlabeled_photos_are_refused_by_name_not_as_a_zero_width_model(tmp_path, capsys):
    from PIL import Image

    for i in range(10):  # photos straight in the folder: no class subfolders, so no labels
        Image.new("RGB", (8, 8), (20 * i, 0, 0)).save(tmp_path / f"{i}.png")
    argv = ["train", "--model", "mlp", "--data", f"images:{tmp_path}", "--epochs", "1", "--quiet",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "has no labels" in err and "DIR/<label>/" in err and "widths" not in err and err.count("\n") == 1
