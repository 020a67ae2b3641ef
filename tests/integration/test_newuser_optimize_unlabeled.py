"""`slimtorch optimize` on unlabeled data as a newcomer runs it: a zoo model's shipped weights are the original
(nothing can train it), the recipe it writes reproduces the choice, and what cannot work is one line, exit 2."""

import json

import numpy as np
import pytest
import torch
import yaml

import slimtorch as st
from slimtorch.cli import main
from slimtorch.pipeline.prepare import load_data
from slimtorch.pipeline.recipe import DataConfig


@pytest.fixture
def unlabeled_npz(tmp_path):
    """400 MNIST digits (already normalised) with every label -1: inputs only."""
    x = st.data.load("mnist")[0].x[:400].numpy()
    path = tmp_path / "digits.npz"
    np.savez(path, x=x, y=np.full(len(x), -1))
    return path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_a_zoo_model_without_shipped_weights_is_refused_before_training(unlabeled_npz, tmp_path, capsys):
    out = tmp_path / "opt"
    assert main(["optimize", "lenet5", "--data", f"npz:{unlabeled_npz}", "--minutes", "0.1", "--out", str(out)]) == 2
    err = _one_line(capsys)
    assert "has no labels, so the zoo lenet5 cannot be trained on it" in err
    assert "--model-arg pretrained=true for minilm, mnist_cnn, mobilenet_v2" in err
    assert not (out / "original").exists()


def test_a_misspelled_pretrained_is_refused_not_read_as_true(unlabeled_npz, tmp_path, capsys):
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=ture", "--data", f"npz:{unlabeled_npz}",
                 "--out", str(tmp_path / "opt")]) == 2  # the string 'ture' is truthy: it loaded the shipped weights
    assert _one_line(capsys) == "slimtorch: error: --model-arg: pretrained='ture'; allowed: true or false"


def test_epochs_with_shipped_weights_on_unlabeled_data_is_refused(unlabeled_npz, tmp_path, capsys):
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=true", "--data", f"npz:{unlabeled_npz}",
                 "--epochs", "2", "--out", str(tmp_path / "opt")]) == 2
    assert _one_line(capsys).startswith("slimtorch: error: --epochs: nothing is trained here")


@pytest.fixture
def photos(tmp_path):
    """``images:DIR`` of 6 noise photos directly in the folder: unlabeled."""
    from PIL import Image

    (tmp_path / "photos").mkdir()
    for i in range(6):
        noise = np.random.default_rng(i).integers(0, 255, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(noise).save(tmp_path / "photos" / f"{i}.png")
    return f"images:{tmp_path / 'photos'}"


def test_shipped_weights_of_one_channel_on_photos_name_the_input_they_take(photos, tmp_path, capsys):
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=true", "--data", photos,
                 "--data-option", "size=28", "--val-rows", "2", "--out", str(tmp_path / "opt")]) == 2
    err = _one_line(capsys)  # pretrained=true changes no input: it advised --model-arg values and torch's words twice
    assert "it takes [1, 28, 28] (the zoo mnist_cnn's input)" in err and err.count("RuntimeError") == 1


def test_a_test_split_of_nothing_is_one_line_not_a_crash_at_the_end(photos, tmp_path, capsys):
    data = photos
    assert main(["optimize", "mobilenet_v2", "--model-arg", "pretrained=true", "--data", data, "--data-option",
                 "size=16", "--data-option", "test_fraction=0", "--out", str(tmp_path / "opt")]) == 2
    assert f"--data-option: {data} has no test rows" in _one_line(capsys)  # with more photos: a crash at the end
    assert not (tmp_path / "opt").exists()


def test_two_training_rows_are_refused_without_advising_a_val_rows_that_cannot_fit(unlabeled_npz, tmp_path, capsys):
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=true", "--data", f"npz:{unlabeled_npz}",
                 "--data-option", "test_fraction=0.995", "--out", str(tmp_path / "opt")]) == 2  # 2 train, 398 test
    assert f"--data: npz:{unlabeled_npz} has 2 training rows; allowed: at least 3" in _one_line(capsys)


def test_text_is_refused_in_one_line_before_the_encoder_is_built(tmp_path, capsys):
    (tmp_path / "s.txt").write_text("a new user prunes a sentence encoder\n" * 40)  # token ids: the search times floats
    assert main(["optimize", "minilm", "--data", f"text:{tmp_path / 's.txt'}", "--out", str(tmp_path / "opt")]) == 2
    assert "holds integer inputs (token ids)" in _one_line(capsys)  # was: a traceback from the latency table
    assert not (tmp_path / "opt").exists()


@pytest.mark.parametrize("spec,allowed", [("images:", "images:DIR"), ("text:", "text:FILE"), ("npz:", "npz:FILE")])
def test_a_data_spec_without_its_path_is_one_line_naming_the_form(tmp_path, capsys, monkeypatch, spec, allowed):
    monkeypatch.chdir(tmp_path)  # "images:" read the current folder ("" is "."), then called itself unknown
    assert main(["optimize", "mobilenet_v2", "--data", spec, "--out", str(tmp_path / "opt")]) == 2
    assert f"--data: '{spec}' names no " in (err := _one_line(capsys)) and f"allowed: {allowed}, e.g." in err


def test_normalize_given_as_a_data_option_is_the_data_field(unlabeled_npz):
    # the CLI has no --normalize: `--data-option normalize=false` reached st.data.load twice (a TypeError)
    as_option = load_data(DataConfig(name=f"npz:{unlabeled_npz}", options={"normalize": False}))[0]
    as_field = load_data(DataConfig(name=f"npz:{unlabeled_npz}", normalize=False))[0]
    torch.testing.assert_close(as_option.x, as_field.x)
    assert not torch.allclose(as_option.x, load_data(DataConfig(name=f"npz:{unlabeled_npz}"))[0].x)


def test_shipped_weights_are_the_original_and_optimized_yaml_reproduces_the_choice(unlabeled_npz, tmp_path, capsys):
    out, run = tmp_path / "opt", tmp_path / "run"
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=true", "--data", f"npz:{unlabeled_npz}",
                 "--data-option", "normalize=false", "--max-drop", "20", "--minutes", "1", "--batch-size", "16",
                 "--no-int8", "--out", str(out)]) == 0
    assert "reproduce: slimtorch run" in capsys.readouterr().out.strip().splitlines()[-1]
    recipe = yaml.safe_load((out / "optimized.yaml").read_text())
    assert recipe["model"]["kwargs"]["pretrained"] is True
    stages = [next(iter(s)) for s in recipe["stages"]]
    assert "train" not in stages and "channel_prune" in stages  # nothing trained; the search cut something
    assert recipe["stages"][stages.index("distill")]["distill"]["alpha"] == 1.0  # label-free, as the search
    result = json.loads((out / "candidates.json").read_text())
    assert not [n for n in result["notes"] if "no stage that trains" in n]  # the shipped model is its own baseline
    assert main(["run", str(out / "optimized.yaml"), "--out", str(run)]) == 0
    chosen, rows = result["chosen"], json.loads((run / "metrics.json").read_text())["measure"]["rows"]
    assert rows[-1]["params"] == chosen["params"]
    agreement = 100 * rows[-1]["fidelity"]["agreement_top1"]
    assert abs(agreement - chosen["test"]) < 1.5  # the same cuts and recovery: one test row of 80 at most


@pytest.fixture
def twelve_classes(tmp_path):
    """``images:DIR`` labelled by 12 subfolders of 2 noise photos each (the zoo's default is 10 classes)."""
    from PIL import Image

    for c in range(12):
        (tmp_path / "labelled" / f"c{c:02d}").mkdir(parents=True)
        for i in range(2):
            noise = np.random.default_rng(10 * c + i).integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(noise).save(tmp_path / "labelled" / f"c{c:02d}" / f"{i}.png")
    return f"images:{tmp_path / 'labelled'}"


@pytest.mark.parametrize("saved,match", [
    (False, "has 12 classes but the model gives 10 outputs per sample; add --model-arg num_classes=12"),
    (True, "has 12 classes but the model gives 10 outputs per sample; allowed: data of at most 10 classes"),
])
def test_more_classes_than_outputs_is_one_line_before_training(twelve_classes, tmp_path, capsys, saved, match):
    model = ["--model-arg", "depth=8"]  # it trained and crashed in the loss: "IndexError: Target 10 is out of bounds"
    if saved:
        st.save(st.models.build("resnet_cifar", depth=8, width=4), tmp_path / "saved")
        model = []
    argv = ["optimize", str(tmp_path / "saved") if saved else "resnet_cifar", *model, "--data", twelve_classes,
            "--data-option", "size=16", "--val-rows", "2", "--out", str(tmp_path / "opt")]
    assert main(argv) == 2
    assert match in _one_line(capsys)
    assert not (tmp_path / "opt" / "original").exists()
