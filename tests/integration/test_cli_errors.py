"""The CLI's error lines: data that does not fit a saved model, unknown flags, a ValueError from the library.
Each is one line naming what is wrong and what to do (exit 2); an error slimtorch did not anticipate says so
(exit 1), and --debug / SLIMTORCH_DEBUG=1 bring the traceback back."""

import json

import numpy as np
import pytest
import torch

import slimtorch as st
from slimtorch import cli
from slimtorch.cli import main

QUICK = ["--repeats", "1", "--batch-sizes", "1", "--backends", "eager"]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _saved(tmp_path, name, shape, **kwargs):
    torch.manual_seed(0)
    st.save(st.models.build(name, **kwargs), tmp_path / name, extra={"input_shape": shape})
    return str(tmp_path / name)


@pytest.mark.parametrize("name,kwargs", [("lenet5", {}), ("mlp", {"widths": [784, 8, 10]})])
def test_bench_on_data_of_another_size_names_both_shapes(tmp_path, capsys, name, kwargs):
    folder = _saved(tmp_path, name, [1, 28, 28], **kwargs)
    assert main(["bench", folder, "--data", "digits", *QUICK]) == 2
    err = _one_line(capsys)
    assert "--data: the model rejects inputs of shape [1, 8, 8] per sample from digits" in err
    assert "it takes [1, 28, 28]" in err and "give --data with samples of shape [1, 28, 28]" in err
    assert "mat1" not in err and "Kernel size" not in err  # torch's words about the model's insides


def _photos(folder, n=4):
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return f"images:{folder}"


def test_bench_on_photos_of_the_wrong_size_says_which_option_fixes_it(tmp_path, capsys):
    folder = _saved(tmp_path, "mlp", [3, 16, 16], widths=[3 * 16 * 16, 8, 3])
    data = _photos(tmp_path / "photos")
    assert main(["bench", folder, "--data", data, *QUICK]) == 2
    err = _one_line(capsys)
    assert "[3, 224, 224]" in err and "it takes [3, 16, 16]" in err and "add --data-option size=16" in err
    assert main(["bench", folder, "--data", data, "--data-option", "size=16", *QUICK]) == 0


def test_bench_on_photos_for_a_grey_model_says_photos_do_not_fit(tmp_path, capsys):
    folder = _saved(tmp_path, "lenet5", [1, 28, 28])
    assert main(["bench", folder, "--data", _photos(tmp_path / "photos"), *QUICK]) == 2
    err = _one_line(capsys)
    assert "3-channel" in err and "[1, 28, 28]" in err and "--data-option" not in err.split("3-channel")[1]


def test_bench_without_a_recorded_shape_names_the_first_layer(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("lenet5"), tmp_path / "m")  # no input_shape in model.json
    assert main(["bench", str(tmp_path / "m"), "--data", "digits", *QUICK]) == 2
    err = _one_line(capsys)
    assert "[1, 8, 8]" in err and "takes 1 channel(s)" in err


@pytest.mark.parametrize("argv,names", [
    (["bench", "x", "--data-option", "size"], "--data-option: got 'size'; allowed: KEY=VALUE"),
    (["bench", "x", "--data-option", "size=8"], "--data-option: given without --data"),
    (["bench", "x", "--data", "digits", "--input-shape", "1,8,8"], "--input-shape: given with --data"),
    (["bench", "x", "--data", "digits", "--data-option", "bogus=3"], "--data-option: "),
])
def test_bench_data_option_errors_name_the_flag(tmp_path, capsys, argv, names):
    argv[1] = _saved(tmp_path, "lenet5", [1, 28, 28])
    assert main(argv) == 2
    assert names in _one_line(capsys)


def test_bench_input_shape_of_another_size_gives_the_recorded_one(tmp_path, capsys):
    folder = _saved(tmp_path, "lenet5", [1, 28, 28])
    assert main(["bench", folder, "--input-shape", "3,28,28", *QUICK]) == 2
    assert "give --input-shape 1,28,28" in _one_line(capsys)


@pytest.mark.parametrize("argv,says", [
    (["--bogus"], ["unrecognized arguments: --bogus", "train, list, run"]),
    (["train", "--bogus-flag", "3"], ["unrecognized arguments: --bogus-flag 3", "slimtorch train --help"]),
    (["train", "--model", "mlp", "--lrr", "3"], ["--lrr 3", "did you mean --lr"]),
    (["bench", "--bogus", "x"], ["--bogus", "allowed flags of bench: ", "--input-shape"]),
    (["list", "lenet5", "extra"], ["unrecognized arguments: extra"]),
])
def test_unknown_flags_are_named_before_missing_ones(capsys, argv, says):
    assert main(argv) == 2
    err = _one_line(capsys)
    assert all(s in err for s in says), err


def test_missing_arguments_are_still_named(capsys):
    assert main([]) == 2
    assert "no command given; allowed: train, list, run" in _one_line(capsys)
    assert main(["train", "--model", "mlp"]) == 2
    assert "required: --data" in _one_line(capsys)
    assert main(["run"]) == 2
    assert "required: recipe" in _one_line(capsys)


BAD_REGEX = """
model: {name: mlp, widths: [64, 8, 10]}
data: {name: digits, train_subset: 64, test_subset: 32}
train: {epochs: 1}
stages:
  - channel_prune: {ratio: 0.5, ignore: ["["]}
report: {plots: false}
"""


def test_a_value_error_the_library_raises_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SLIMTORCH_DEBUG", raising=False)
    (tmp_path / "r.yaml").write_text(BAD_REGEX)
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "unterminated character set" in _one_line(capsys)


def _raises_foreign(args):
    return json.loads("{")  # a ValueError raised inside the json module, as a bug in a call would


def test_a_value_error_from_below_slimtorch_says_it_may_be_a_bug(capsys, monkeypatch):
    monkeypatch.delenv("SLIMTORCH_DEBUG", raising=False)
    monkeypatch.setattr(cli.importlib.import_module("slimtorch.cli.list"), "run", _raises_foreign)
    assert main(["list"]) == 1
    err = _one_line(capsys)
    assert "JSONDecodeError raised in json.decoder" in err and "this is a bug" in err and "--debug" in err


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SLIMTORCH_DEBUG", raising=False)
    monkeypatch.setattr(cli.importlib.import_module("slimtorch.cli.list"), "run", _raises_foreign)
    with pytest.raises(json.JSONDecodeError):
        main(["--debug", "list"])
    with pytest.raises(json.JSONDecodeError):
        main(["list", "--debug"])  # after the command too
    monkeypatch.setenv("SLIMTORCH_DEBUG", "1")
    with pytest.raises(cli.UsageError):
        main(["train", "--bogus"])
    monkeypatch.setenv("SLIMTORCH_DEBUG", "0")
    assert main(["train", "--bogus"]) == 2


def _interrupted(args):
    raise KeyboardInterrupt


@pytest.mark.parametrize("argv,says", [
    (["train", "--model", "mlp", "--data", "digits"], "rerun it with --resume"),
    (["bench", "somewhere"], "nothing was saved"),  # bench keeps nothing: no "can be resumed" promise
    (["run", "r.yaml"], "finished stages are saved: rerun the same command to resume"),
])
def test_an_interrupted_command_says_what_was_kept(monkeypatch, capsys, argv, says):
    monkeypatch.setattr(cli.importlib.import_module(f"slimtorch.cli.{argv[0]}"), "run", _interrupted)
    assert main(argv) == 130
    err = _one_line(capsys)
    assert err.startswith("slimtorch: interrupted; ") and says in err
