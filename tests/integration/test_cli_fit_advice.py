"""A zoo model that cannot take the data (LeNet-5 on photos or 8x8 digits): `train` and `optimize` name both
shapes and the flags that fit them, checked by building the model so; following the advice works."""

import numpy as np
import pytest

from slimtorch.cli import main
from slimtorch.cli.shapes import zoo_advice


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def photos(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        folder = tmp_path / "photos" / label
        folder.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
    return f"images:{tmp_path / 'photos'}"


def test_train_lenet5_on_photos_says_which_flags_fit_and_they_do(tmp_path, photos, capsys):
    argv = ["train", "--model", "lenet5", "--data", photos, "--epochs", "1", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = _one_line(capsys)
    assert "[3, 224, 224]" in err and "it takes [1, 28, 28] (the zoo lenet5's input)" in err
    assert err.strip().endswith("add --model-arg in_channels=3 --data-option size=28")
    assert not (tmp_path / "run" / "model").exists()
    assert main([*argv, "--model-arg", "in_channels=3", "--data-option", "size=28"]) == 0


@pytest.mark.parametrize("model,says", [
    ("lenet300", "add --model-arg in_features=64"),
    ("lenet5", "give --data with samples of shape [1, 28, 28], or a zoo model (or --model-arg) that takes [1, 8, 8]"),
])
def test_train_zoo_model_on_digits(tmp_path, capsys, model, says):
    assert main(["train", "--model", model, "--data", "digits", "--out", str(tmp_path / "run")]) == 2
    err = _one_line(capsys)  # torch's words only after the advice, when no flag alone fits
    assert err.startswith("slimtorch: error: --data: the model rejects inputs of shape [1, 8, 8] per sample from "
                          f"digits: it takes {[784] if model == 'lenet300' else [1, 28, 28]}") and says in err


def test_optimize_lenet5_on_photos_gives_the_same_advice(tmp_path, photos, capsys):
    out = tmp_path / "opt"
    assert main(["optimize", "lenet5", "--data", photos, "--val-rows", "2", "--minutes", "0.1", "--out", str(out)]) == 2
    assert "add --model-arg in_channels=3 --data-option size=28" in _one_line(capsys)
    assert not (out / "original").exists()


@pytest.mark.parametrize("argv,says", [
    (["--data-option", "bogus=1"], "--data-option: dataset"),
    (["--data-option", "seed=1"], "--data-option seed: has its own flag here; use --seed"),
    (["--data-option", "size"], "--data-option: got 'size'"),
])
def test_train_data_option_errors_name_the_flag(tmp_path, photos, capsys, argv, says):
    assert main(["train", "--model", "mlp", "--data", photos, *argv, "--out", str(tmp_path / "run")]) == 2
    assert says in _one_line(capsys)


@pytest.mark.parametrize("name,expected,got,source,advice", [
    ("lenet5", [1, 28, 28], [3, 224, 224], "images:x", "add --model-arg in_channels=3 --data-option size=28"),
    ("resnet_cifar", [3, 32, 32], [1, 28, 28], "mnist", "add --model-arg in_channels=1"),  # adaptive pooling
    ("lenet300", [784], [1, 8, 8], "digits", "add --model-arg in_features=64"),
    ("lenet5", [1, 28, 28], [1, 8, 8], "digits", None),  # no flag makes LeNet-5 take 8x8
    ("mnist_cnn", [1, 28, 28], [3, 224, 224], "images:x", None),  # no in_channels argument
])
def test_zoo_advice_is_given_only_when_it_works(name, expected, got, source, advice):
    assert zoo_advice(name, expected, got, source) == advice
