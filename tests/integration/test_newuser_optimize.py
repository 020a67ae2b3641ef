"""`slimtorch optimize` on inputs nobody designed for it: one line, exit 2, nothing written."""

import json

import pytest
import torch
import yaml

import slimtorch as st
from slimtorch.cli import main


def test_data_the_saved_model_cannot_take_is_one_line_not_a_traceback(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[784, 16, 10]), tmp_path / "m")  # takes 784 features; digits has 64
    out = tmp_path / "opt"
    assert main(["optimize", str(tmp_path / "m"), "--data", "digits", "--minutes", "0.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slimtorch: error: --data: the model rejects inputs of shape [1, 8, 8]")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_zoo_model_is_checked_against_the_data_before_it_is_trained(tmp_path, capsys):
    out = tmp_path / "opt"  # lenet5 wants 28x28 images; digits are 8x8
    assert main(["optimize", "lenet5", "--data", "digits", "--minutes", "0.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slimtorch: error: --data: the model rejects inputs of shape [1, 8, 8]")
    assert not (out / "original").exists()


def test_a_batch_too_large_to_build_is_one_line_before_the_original_is_trained(tmp_path, capsys):
    out = tmp_path / "opt"  # 10^9 digits of 64 values: 256 GB of float32
    assert main(["optimize", "mlp", "--data", "digits", "--batch-size", "1000000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slimtorch: error: --batch-size: 1,000,000,000 samples of [1, 8, 8]")
    assert len(err.strip().splitlines()) == 1 and not (out / "original").exists()


def test_the_api_refuses_a_batch_too_large_to_build():
    data = st.data.load("digits")
    with pytest.raises(ValueError, match=r"^batch_size: 1,000,000,000 samples of \[1, 8, 8\]"):
        st.optimize(st.models.build("mlp", widths=[64, 16, 10]), data, batch_size=10**9, budget_minutes=0.1)


@pytest.mark.slow
def test_a_saved_model_is_not_said_to_be_reproduced_by_a_recipe_of_fresh_weights(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[64, 32, 10]), tmp_path / "m")
    out = tmp_path / "opt"
    assert main(["optimize", str(tmp_path / "m"), "--data", "digits", "--max-drop", "99", "--minutes", "0.05",
                 "--recovery-epochs", "0", "--no-int8", "--train-subset", "200", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    last = printed.strip().splitlines()[-1]
    assert "reproduce: slimtorch run" not in last and "does not reproduce it" in last
    # nor told to pass recipe= as the API would be: the CLI did
    assert "pass recipe=" not in printed
    assert not [n for n in json.loads((out / "candidates.json").read_text())["notes"] if "pass recipe=" in n]
    text = (out / "optimized.yaml").read_text()
    assert text.startswith("# NOTE: optimized.yaml does not reproduce it")
    assert yaml.safe_load(text)["model"]["name"] == "mlp"  # still a valid recipe


def test_a_folder_without_a_model_is_one_line_before_any_work(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["optimize", str(tmp_path / "empty"), "--data", "digits", "--out", str(tmp_path / "opt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"slimtorch: error: model: {tmp_path / 'empty'}") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "opt").exists()


def test_a_train_output_folder_is_optimized_and_its_result_pruned_and_benched_without_input_shape(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[64, 32, 10]), tmp_path / "trained" / "model")  # `slimtorch train`'s --out
    out = tmp_path / "opt"
    assert main(["optimize", str(tmp_path / "trained"), "--data", "digits", "--max-drop", "99", "--minutes", "0.05",
                 "--recovery-epochs", "0", "--no-int8", "--train-subset", "200", "--out", str(out)]) == 0
    meta = json.loads((out / "model" / "model.json").read_text())
    assert meta["extra"]["input_shape"] == [1, 8, 8]  # digits rows
    capsys.readouterr()
    assert main(["prune", str(out), "--ratio", "0.25", "--out", str(tmp_path / "pruned")]) == 0
    assert main(["bench", str(out), "--batch-sizes", "1", "--repeats", "1"]) == 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow
def test_shipped_weights_on_labelled_data_are_the_original_not_retrained_from_scratch(tmp_path, capsys):
    common = ["--data", "mnist", "--max-drop", "99", "--minutes", "0.05", "--recovery-epochs", "0", "--no-int8",
              "--train-subset", "200"]
    out = tmp_path / "opt"  # before: trained again at lr 0.1 (the from-scratch recipe) on the 200 rows
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=true", *common, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mnist_cnn's shipped weights (pretrained=true: not retrained here" in printed
    assert "original: accuracy val" in printed and not (out / "original").exists()
    base = float(printed.split("original: accuracy val ")[1].split(" / test ")[1].split(";")[0])
    assert base > 98  # the shipped 99.05%, not 200 rows' worth of training
    recipe = yaml.safe_load((out / "optimized.yaml").read_text())
    assert recipe["model"]["kwargs"]["pretrained"] is True and not any("train" in s for s in recipe["stages"])
    # --epochs N fine-tunes them, at the recovery's lr (the recipe reproduces it the same way)
    tuned = tmp_path / "tuned"
    assert main(["optimize", "mnist_cnn", "--model-arg", "pretrained=true", "--epochs", "1", *common,
                 "--out", str(tuned)]) == 0
    assert "fine-tuning the shipped weights (lr 0.01) of mnist_cnn on" in capsys.readouterr().out
    assert yaml.safe_load((tuned / "optimized.yaml").read_text())["train"]["lr"] == 0.01


def test_shipped_weights_that_do_not_know_the_labels_are_refused_not_scored_at_zero(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    for c in ("cats", "dogs"):  # a user's folder: class ids 0, 1, which the ImageNet head does not mean
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            noise = np.random.default_rng(i + 10 * len(c)).integers(0, 255, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(noise).save(tmp_path / "imgs" / c / f"{i}.png")
    out = tmp_path / "opt"  # before: accuracy 0.00 for the original and every candidate, a budget on nothing
    assert main(["optimize", "mobilenet_v2", "--model-arg", "pretrained=true", "--data", f"images:{tmp_path / 'imgs'}",
                 "--data-option", "size=32", "--val-rows", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("slimtorch: error: --data: mobilenet_v2's shipped weights score ")
    assert "its classes are not your labels; allowed: --epochs N" in err and len(err.splitlines()) == 1
    assert not (out / "model").exists()
