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


def test_a_teacher_worse_than_training_alone_is_one_warning_line_and_the_student_alone_is_kept(tmp_path, capsys):
    from safetensors.torch import load_file

    teacher = _teacher(tmp_path, [64, 8, 10])  # untrained: it teaches noise
    base = ["train", "--model", "mlp", "--data", "digits", "--limit", "300", "--epochs", "3", "--quiet"]
    assert main(base + ["--out", str(tmp_path / "alone")]) == 0
    capsys.readouterr()
    assert main(base + ["--out", str(tmp_path / "kd"), "--teacher", teacher, "--alpha", "0.9"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("slimtorch: warning: distillation was not better than training")
    a, b = (load_file(tmp_path / n / "model" / "model.safetensors") for n in ("alone", "kd"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # exactly the student trained alone


def test_alpha_flag_takes_auto_and_names_what_it_allows(tmp_path, capsys):
    teacher = _teacher(tmp_path, [64, 8, 10])
    assert main(BASE + ["--out", str(tmp_path / "s"), "--teacher", teacher, "--alpha", "high"]) == 2
    assert "--alpha: invalid value 'high'; allowed: a number in [0, 1] or 'auto'" in capsys.readouterr().err
    assert main(BASE + ["--out", str(tmp_path / "a"), "--teacher", teacher, "--alpha", "auto"]) == 0


def test_teacher_given_as_the_out_folder_of_an_earlier_train(tmp_path, capsys):
    first = BASE + ["--model-arg", "widths=[64,8,10]", "--out", str(tmp_path / "t")]
    assert main(first) == 0  # writes t/model; users pass t, as to prune and bench
    argv = BASE + ["--model-arg", "widths=[64,4,10]", "--out", str(tmp_path / "s"), "--teacher", str(tmp_path / "t")]
    assert main(argv) == 0
    assert main(BASE + ["--out", str(tmp_path / "x"), "--teacher", str(tmp_path)]) == 2  # holds no model
    assert "--teacher: " in capsys.readouterr().err
