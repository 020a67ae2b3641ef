"""`slimtorch train` / `slimtorch list` end to end on tiny data, and their error paths."""

import json
import re

import numpy as np
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


def test_teacher_naming_a_factory_needs_trust(tmp_path, capsys):
    from slimtorch import io

    teacher = tmp_path / "linear"
    io.save(torch.nn.Linear(2, 2), teacher, spec={"factory": "torch.nn:Linear",
                                                  "kwargs": {"in_features": 2, "out_features": 2}})
    args = BASE + ["--epochs", "1", "--out", str(tmp_path / "s"), "--teacher", str(teacher)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--trust-factory" in err and not (tmp_path / "s").exists()
    assert main(args + ["--trust-factory"]) == 0 and len(_metrics(tmp_path / "s")) == 1


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
    (["--model-arg", "widths"], r"--model-arg: got 'widths'; allowed: KEY=VALUE"),
    (["--model-arg", "depth=3"], r"--model mlp: .*unknown argument\(s\) \['depth'\]"),
    (["--model-arg", "dropout=nan"], r"--model-arg dropout: got nan; allowed: a finite number"),  # YAML: text
    (["--model-arg", "widths=[4,.inf,2]"], r"--model-arg widths\[1\]: got inf; allowed: a finite number"),
    (["--teacher", "no_such_thing"], r"--teacher: got 'no_such_thing'; allowed: .*a folder written by st.save"),
    (["--warmup", "5"], r"--warmup-epochs: got 5.0; must be below epochs=3"),
    (["--seed", "-1"], r"--seed: got -1; allowed range \[0, 4294967295\]"),
    (["--milestones", "2,1", "--schedule", "multistep"], r"--milestones: must be increasing, got \[2.0, 1.0\]"),
    (["--milestones", "1,x"], r"argument --milestones: invalid value '1,x'; expected float values separated by commas"),
    (["--betas", "0.9"], r"--betas: needs two values, got \[0.9\]"),
    (["--betas", "0.9,1.5"], r"--betas\[1\]: got 1.5; allowed range \[0.0, 1.0\)"),
    (["--gamma", "0"], r"--gamma: got 0.0; allowed range \(0.0, 1.0\]"),
    (["--no-shuffle", "--shuffle", "--grad-accum", "0"], r"--grad-accum: got 0; allowed range \[1, inf\]"),
    (["--teacher", "mnist_cnn", "--alpha", "2"], r"--alpha: got 2.0; allowed range \[0.0, 1.0\]"),
    (["--teacher", "mnist_cnn", "--distill-feature", "x"], r"argument --distill-feature: got 'x'; expected "
                                                            r"STUDENT=TEACHER"),
    (["--distill-loss", "l1"], r"argument --distill-loss: invalid choice: 'l1'"),
    (["--device", "tpu"], r"device: got 'tpu'; allowed: 'auto', 'cpu', 'cuda'"),
])
def test_bad_arguments_one_line_exit_2(tmp_path, capsys, extra, match):
    rc = main(BASE + ["--out", str(tmp_path / "x")] + extra)
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("slimtorch: error: ")
    assert re.search(match, err), err


def test_list_prints_every_vocabulary(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert "lenet5" in lines["models"] and "mnist" in lines["datasets"]
    assert lines["optimizers"] == "gd, sgd, adam, adamw"
    assert lines["schedules"].startswith("constant, step, multistep, exponential, cosine, linear, one_cycle")
    assert any(k.startswith("algorithms") for k in lines)


def _parser_options():
    from slimtorch.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return train, {opt for action in train._actions for opt in action.option_strings}


def test_every_config_field_has_a_flag():
    from slimtorch.distillation import DistillConfig
    from slimtorch.training import TrainConfig

    _, options = _parser_options()
    for name in TrainConfig.field_names():
        assert "--" + name.replace("_", "-") in options, name
    distill = {"teacher", "temperature", "alpha", "distill-feature", "distill-feature-loss", "distill-feature-weight",
               "distill-loss", "teacher-cache", "distill-val-fraction", "distill-patience", "distill-compare",
               "distill-hints", "distill-mask-padding", "distill-skip-rows"}
    assert {"--" + o for o in distill} <= options and len(DistillConfig.field_names()) == len(distill) + 1  # + epochs
    assert {"--warmup", "--no-shuffle", "--nesterov", "--no-nesterov", "--bf16"} <= options  # the README's spellings


def test_configs_document_every_field_for_the_help():
    from slimtorch.cli.flags import field_docs
    from slimtorch.distillation import DistillConfig
    from slimtorch.training import TrainConfig

    for cls in (TrainConfig, DistillConfig):
        docs = field_docs(cls)
        assert set(docs) == set(cls.field_names()) and all(docs.values()), cls.__name__
    assert field_docs(TrainConfig)["early_stopping"] == ("stop after this many epochs without a better eval loss "
                                                         "(train loss without eval data).")  # continuation joined


def test_help_shows_each_default_and_the_docstring_text(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for expected in ("--gamma GAMMA step / multistep / plateau: factor per drop; exponential: factor per epoch "
                     "(default: 0.1)", "--milestones FLOAT,... multistep schedule: epochs at which the learning rate "
                     "drops (default: none)", "--betas FLOAT,... adam / adamw moment decay rates (default: 0.9,0.999)",
                     "--shuffle, --no-shuffle", "(default: on)", "--epochs EPOCHS passes over the training data "
                     "(default: 3)", "--temperature TEMPERATURE softening temperature T of the soft-target term "
                     "(default: 4.0)"):
        assert expected in text, expected


def test_version(capsys):
    import slimtorch

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"slimtorch {slimtorch.__version__}"


def test_multistep_schedule_really_decays(tmp_path):
    out = tmp_path / "ms"
    assert main(BASE + ["--epochs", "3", "--schedule", "multistep", "--milestones", "1,2", "--gamma", "0.1",
                        "--out", str(out)]) == 0
    lrs = [row["lr"] for row in _metrics(out)]  # the lr of each epoch's last step: 0.3, then x0.1 per milestone
    assert lrs == pytest.approx([0.3, 0.03, 0.003], rel=1e-9)
    saved = json.loads((out / "model" / "model.json").read_text())["extra"]["train"]
    assert saved["milestones"] == [1.0, 2.0] and saved["gamma"] == pytest.approx(0.1)


def test_one_seed_one_run_byte_identical_checkpoints(tmp_path):
    from slimtorch.training.checkpoint import load_checkpoint

    runs = [tmp_path / "a", tmp_path / "b"]
    for i, out in enumerate(runs):
        torch.manual_seed(100 + i)  # whatever the global RNGs held before must not matter
        np.random.seed(100 + i)
        assert main(BASE + ["--epochs", "2", "--seed", "7", "--out", str(out)]) == 0
    a, b = runs
    for name in ("ckpt-2.safetensors", "model/model.safetensors"):  # weights, optimizer, every RNG state
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    timing = ("seconds", "samples_per_s")
    states = [load_checkpoint(out)["state"] for out in runs]
    for s in states:
        for key in timing:
            s["history"].pop(key)
        s.pop("config")  # differs only in out=
    assert json.dumps(states[0], default=str) == json.dumps(states[1], default=str)
    other = tmp_path / "c"
    assert main(BASE + ["--epochs", "2", "--seed", "8", "--out", str(other)]) == 0
    assert (a / "model/model.safetensors").read_bytes() != (other / "model/model.safetensors").read_bytes()


NAN_RECIPE = """
model: {name: mlp, widths: [64, 32, 10]}
data: {name: digits, batch_size: 32, train_subset: 200, test_subset: 100}
train: {epochs: 2, optimizer: sgd, lr: 1.0e30}
stages: [train]
"""


@pytest.mark.parametrize("command", ["train", "run"])
def test_nan_loss_is_one_true_line_exit_1(tmp_path, capsys, command):
    out = tmp_path / "nan"
    if command == "train":
        rc = main(BASE + ["--lr", "1e30", "--epochs", "2", "--out", str(out)])
    else:
        (tmp_path / "nan.yaml").write_text(NAN_RECIPE)
        rc = main(["run", str(tmp_path / "nan.yaml"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    stage = r"stage 'train' \(1/2\): " if command == "run" else ""  # the run names the stage that diverged
    assert re.match(rf"slimtorch: error: {stage}loss is (nan|inf) at epoch 1, step \d+: training stopped; "
                    r"no checkpoint was written before it\.", err), err
    assert not list(out.rglob("latest.json"))  # and indeed there is none
