"""`slimtorch train` / `slimtorch list` end to end on tiny data, and their error paths."""

import json

import pytest
import torch
from safetensors.torch import load_file

from slimtorch.cli import main

BASE = ["train", "--model", "mlp", "--model-arg", "widths=[2,16,2]", "--data", "moons", "--limit", "160",
        "--batch-size", "32", "--lr", "0.3", "--momentum", "0.9", "--device", "cpu", "--quiet"]


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_end_to_end_loss_goes_down_and_model_is_saved(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(BASE + ["--epochs", "4", "--nesterov", "--clip-norm", "1.0", "--schedule", "cosine", "--warmup", "0.5",
                      "--out", str(out)])
    assert rc == 0
    rows = _metrics(out)
    assert len(rows) == 4 and rows[-1]["loss"] < rows[0]["loss"]
    assert rows[-1]["eval_accuracy"] > 0.75
    table = capsys.readouterr().out
    assert "| test accuracy" in table and f"| saved to               | {out / 'model'} |" in table
    from slimtorch.io import load

    model = load(out / "model")
    assert model(torch.zeros(1, 2)).shape == (1, 2)


def test_cli_resume_reproduces_uninterrupted_run(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(BASE + ["--epochs", "3", "--out", str(full)]) == 0
    assert main(BASE + ["--epochs", "1", "--out", str(cut)]) == 0
    assert main(BASE + ["--epochs", "3", "--out", str(cut), "--resume"]) == 0
    timing = ("seconds", "samples_per_s")  # everything but timings is bit-identical by design: exact comparison
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]
    assert strip(_metrics(full)) == strip(_metrics(cut))
    a, b = load_file(full / "model" / "model.safetensors"), load_file(cut / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_with_teacher_distills(tmp_path):
    teacher = tmp_path / "teacher"
    assert main(BASE + ["--epochs", "2", "--out", str(teacher)]) == 0
    rc = main(BASE + ["--epochs", "2", "--out", str(tmp_path / "student"), "--teacher", str(teacher / "model"),
                      "--temperature", "2", "--alpha", "0.5"])
    assert rc == 0 and len(_metrics(tmp_path / "student")) == 2


@pytest.mark.parametrize("extra, match", [
    (["--model", "resnet9"], r"--model: unknown model 'resnet9'; allowed: mlp, "),
    (["--data", "imagenet"], r"--data: unknown dataset 'imagenet'; known: xor, moons"),
    (["--optimizer", "rmsprop"], r"argument --optimizer: invalid choice: 'rmsprop' \(choose from 'gd', 'sgd'"),
    (["--schedule", "poly"], r"argument --schedule: invalid choice: 'poly'"),
    (["--lr", "-1"], r"lr: got -1.0; allowed range \(0.0, inf\]"),
    (["--lr", "fast"], r"argument --lr: invalid float value: 'fast'"),
    (["--momentum", "1.5"], r"momentum: got 1.5; allowed range \[0.0, 1.0\)"),
    (["--nesterov", "--momentum", "0"], r"nesterov: needs optimizer 'sgd' or 'gd' with momentum > 0"),
    (["--limit", "0"], r"--limit: got 0; allowed: a positive number of rows"),
    (["--threads", "0"], r"--threads: got 0; allowed: 1 or more"),
    (["--model-arg", "widths"], r"--model-arg: got 'widths'; expected KEY=VALUE"),
    (["--model-arg", "depth=3"], r"--model mlp: .*unknown argument\(s\) \['depth'\]"),
    (["--teacher", "no_such_thing"], r"--teacher: got 'no_such_thing'; allowed: .*a folder written by st.save"),
    (["--warmup", "5"], r"warmup_epochs: got 5.0; must be below epochs=3"),
    (["--device", "tpu"], r"device: got 'tpu'; allowed: 'auto', 'cpu', 'cuda'"),
])
def test_bad_arguments_one_line_exit_2(tmp_path, capsys, extra, match):
    rc = main(BASE + ["--out", str(tmp_path / "x")] + extra)
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("slimtorch: error: ")
    import re

    assert re.search(match, err), err


def test_list_prints_every_vocabulary(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert "lenet5" in lines["models"] and "mnist" in lines["datasets"]
    assert lines["optimizers"] == "gd, sgd, adam, adamw"
    assert lines["schedules"].startswith("constant, step, multistep, exponential, cosine, linear, one_cycle")
    assert any(k.startswith("algorithms") for k in lines)
