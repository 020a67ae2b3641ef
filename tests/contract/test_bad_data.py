"""Bad data and environments caught before training: one line, exit 2, the run directory untouched.

Each case writes a small data file, then runs it through ``slimtorch run`` (over an earlier run's
directory, which must stay byte-identical) and through ``slimtorch train`` (which must write nothing).
"""

import numpy as np
import pytest
import torch

from slimtorch.cli import main

PREFIX = "slimtorch: error: "
RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4)).astype(np.float32)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def _csv(path, text):
    path.write_text(text)
    return f"csv:{path}"


# name -> (write the data, model kwargs, expected start of the error line for run / for train)
CASES = {
    "negative_label": (lambda d: _npz(d / "d.npz", x=X, y=np.r_[np.zeros(39, int), -1]), {},
                       "data: data 'npz:", "got label -1; allowed: class ids 0, 1"),
    "fractional_label": (lambda d: _npz(d / "d.npz", x=X, y=np.r_[np.zeros(39), 0.5]), {},
                         "data: data 'npz:", "needs integer class ids 0, 1, ...; got label 0.5"),
    "label_beyond_outputs": (lambda d: _npz(d / "d.npz", x=X, y=np.r_[np.zeros(39, int), 7]),
                             {"widths": [4, 8, 2]}, "model: gives 2 outputs per sample", "has 8 classes"),
    "npz_lengths_differ": (lambda d: _npz(d / "d.npz", x=X, y=np.zeros(30, int)), {},
                           "data", "'x' has 40 rows but 'y' has 30"),
    "csv_nan_cell": (lambda d: _csv(d / "d.csv", "a,b,y\n1,2,0\nnan,3,1\n4,5,0\n6,7,1\n8,9,0\n"), {},
                     "data", "data row 2, column 1 is 'nan'"),
    "csv_inf_label": (lambda d: _csv(d / "d.csv", "1,2,0\n3,4,inf\n4,5,0\n6,7,1\n8,9,0\n"), {},
                      "data", "'y' holds NaN or inf"),
    "lenet_on_rows": (lambda d: _npz(d / "d.npz", x=X, y=np.zeros(40, int)), "lenet5",
                      "model: rejects input of shape [4] per sample", "conv2d"),
}


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _one_error_line(capsys, code):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith(PREFIX), captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def _model_yaml(kwargs):
    if kwargs == "lenet5":
        return "{name: lenet5}"
    widths = kwargs.get("widths", [4, 8, 2])
    return f"{{name: mlp, widths: {widths}}}"


@pytest.mark.parametrize("case", CASES)
def test_bad_data_under_run_leaves_out_untouched(case, tmp_path, capsys):
    write, kwargs, start, detail = CASES[case]
    name = write(tmp_path)
    out = tmp_path / "run"
    (out / "stages" / "00-train").mkdir(parents=True)
    (out / "state.json").write_text('{"stages": {}}')
    (out / "stages" / "00-train" / "model.safetensors").write_bytes(b"weights")
    before = snapshot(out)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {_model_yaml(kwargs)}\ndata: {{name: '{name}'}}\nstages: [train]\n")
    line = _one_error_line(capsys, main(["run", str(recipe), "--out", str(out), "--quiet"]))
    assert line.startswith(PREFIX + start) and detail in line, line
    assert snapshot(out) == before


@pytest.mark.parametrize("case", CASES)
def test_bad_data_under_train_writes_nothing(case, tmp_path, capsys):
    write, kwargs, _, detail = CASES[case]
    name = write(tmp_path)
    model = ["--model", "lenet5"] if kwargs == "lenet5" else ["--model", "mlp"]
    if isinstance(kwargs, dict) and "widths" in kwargs:
        model += ["--model-arg", f"widths={kwargs['widths']}"]
    out = tmp_path / "out"
    line = _one_error_line(capsys, main(["train", *model, "--data", name, "--epochs", "1", "--quiet",
                                         "--out", str(out)]))
    assert detail in line, line
    assert not out.exists()


def test_recipe_not_utf8(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(b"model: {name: mlp}\n# caf\xe9\n")
    out = tmp_path / "run"
    line = _one_error_line(capsys, main(["run", str(recipe), "--out", str(out)]))
    assert line == f"{PREFIX}recipe: {recipe} is not UTF-8 text (byte 24); save it as UTF-8"
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu_is_refused_before_anything_runs(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: mlp, widths: [64, 8, 10]}\ndata: {name: digits}\n"
                      "train: {device: cuda}\nstages: [train]\n")
    out = tmp_path / "run"
    line = _one_error_line(capsys, main(["run", str(recipe), "--out", str(out), "--quiet"]))
    assert line.startswith(f"{PREFIX}train.device: 'cuda' was asked for but torch sees no CUDA device")
    assert not out.exists()
    line = _one_error_line(capsys, main(["train", "--model", "mlp", "--data", "xor", "--device", "cuda",
                                         "--quiet", "--out", str(out)]))
    assert line.startswith(f"{PREFIX}--device: 'cuda' was asked for")
    assert not out.exists()


def test_string_labels_train_and_record_classes(tmp_path, capsys):
    rows = "".join(f"{a:.3f},{b:.3f},{'cat' if a > 0 else 'dog'}\n" for a, b in X[:, :2])
    name = _csv(tmp_path / "pets.csv", "a,b,animal\n" + rows)
    out = tmp_path / "out"
    code = main(["train", "--model", "mlp", "--data", name, "--epochs", "1", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    import json

    extra = json.loads((out / "model" / "model.json").read_text())["extra"]
    assert extra["classes"] == ["cat", "dog"]
