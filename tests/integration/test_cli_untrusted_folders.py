"""Folders and shapes a user hands `slimtorch prune`/`bench` that are wrong: one line, exit 2, nothing
allocated. prune read model.json before loading it (a list or broken JSON was a traceback), a tampered
extra.input_shape reached torch.randn, and --input-shape 100000,100000 tried to allocate 80 GB."""

import json

import pytest
import torch

import slimtorch as st
from slimtorch.cli import main


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[4, 3, 2]), tmp_path / "m", extra={"input_shape": [4]})
    return tmp_path / "m"


@pytest.mark.parametrize("command", ["prune", "bench"])
@pytest.mark.parametrize("meta, words", [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object"),
                                         ('{"extra": {"input_shape": [-4]}}', "extra.input_shape is [-4]")])
def test_a_broken_model_json_is_one_line(saved, capsys, command, meta, words):
    if meta.startswith('{"extra"'):
        meta = json.dumps({**json.loads((saved / "model.json").read_text()), **json.loads(meta)})
    (saved / "model.json").write_text(meta)
    assert main([command, str(saved), "--repeats", "1"] if command == "bench" else [command, str(saved)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "model.json" in err, err


@pytest.mark.parametrize("shape, words", [("100000,100000", "values for a batch of 2; allowed: at most"),
                                          ("0", "positive integers"), ("-3", "positive integers"),
                                          ("3,x", "positive integers")])
def test_bad_input_shapes_are_refused_before_allocating(saved, capsys, shape, words):
    assert main(["prune", str(saved), f"--input-shape={shape}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("slimtorch: error: --input-shape:") and words in err, err


def test_pruning_a_quantized_folder_is_refused_not_a_verified_no_op(tmp_path, capsys):
    train, _ = st.data.load("digits", limit=32)
    torch.manual_seed(0)
    st.save(st.quantize(st.models.build("mlp", widths=[64, 8, 10]), st.Int8(), calib_data=train), tmp_path / "q",
            extra={"input_shape": [1, 8, 8]})
    assert main(["prune", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is quantized (int8)" in err and "prune before quantizing" in err


def test_a_batch_size_too_large_to_build_is_refused_before_allocating(saved, capsys):
    assert main(["bench", str(saved), "--batch-sizes", "1", "1000000000", "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--batch-sizes: 1,000,000,000 samples of [4] make 4,000,000,000 values" in err


@pytest.mark.parametrize("command", ["prune", "bench"])
def test_an_output_path_under_a_file_is_refused_before_the_work(saved, tmp_path, capsys, command):
    (tmp_path / "file.txt").write_text("x")
    target = str(tmp_path / "file.txt" / "out")
    argv = (["prune", str(saved), "--out", target] if command == "prune"
            else ["bench", str(saved), "--json", target, "--repeats", "1", "--batch-sizes", "1"])
    assert main(argv) == 2
    err = capsys.readouterr()
    assert err.err.count("\n") == 1 and f"{tmp_path / 'file.txt'} is a file, not a folder" in err.err
    assert err.out == ""  # refused before pruning or timing anything


def test_train_and_run_refuse_an_out_under_a_file_before_training(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: mlp, widths: [64, 4, 10]}\ndata: {name: digits, train_subset: 20}\n"
                      "train: {epochs: 1}\nstages:\n  - train: {}\n")
    out = str(tmp_path / "file.txt" / "run")
    for argv in (["train", "--model", "mlp", "--data", "digits", "--limit", "20", "--out", out, "--quiet"],
                 ["run", str(recipe), "--out", out, "--quiet"]):
        assert main(argv) == 2  # was a NotADirectoryError traceback at the first checkpoint / the lock
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{tmp_path / 'file.txt'} is a file, not a folder" in err
