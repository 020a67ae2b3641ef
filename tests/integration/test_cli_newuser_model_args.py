"""Wrong --model-arg values and odd model folders a newcomer passes: one line that says what is wrong once."""

import pytest
import torch

from slimtorch.cli import main


def test_torchs_words_appear_once_in_a_zoo_model_input_mismatch(tmp_path, capsys):
    # before: "... (RuntimeError: Given groups=1, ...); give --model-arg values ... (RuntimeError: Given groups=1, ...)"
    assert main(["optimize", "lenet5", "--model-arg", "in_channels=2", "--data", "digits",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("slimtorch: error: --data: the model rejects inputs of shape [1, 8, 8]")
    assert err[0].count("RuntimeError:") == 1, err[0]
    assert "give --model-arg values that make lenet5 take samples of shape [1, 8, 8]" in err[0]


def test_a_folder_holding_a_pickled_checkpoint_names_it(tmp_path, capsys):
    (tmp_path / "mine").mkdir()  # a user's folder: their own torch.save, no model.json
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "mine" / "model.pt")
    assert main(["bench", str(tmp_path / "mine")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no model.json" in err[0]
    assert "model.pt is a pickled PyTorch file, which slimtorch never opens" in err[0]
    assert "st.save(model, DIR" in err[0]


@pytest.mark.parametrize("command", ["train", "optimize"])
@pytest.mark.parametrize("model, arg, allowed", [
    # before: "Trying to create tensor with negative dimension -3", or a shape mismatch blamed on the data
    ("lenet5", "num_classes=-3", "num_classes=-3; allowed: an integer >= 1"),
    ("lenet5", "num_classes=0", "num_classes=0; allowed: an integer >= 1"),
    ("resnet_cifar", "in_channels=0", "in_channels=0; allowed: an integer >= 1"),
    # before: "invalid literal for int() with base 10: 'a'"
    ("mlp", "widths=abc", "widths='abc'; allowed: a list of sizes like [64, 128, 10]"),
])
def test_a_zoo_size_argument_out_of_range_is_named(tmp_path, capsys, command, model, arg, allowed):
    argv = ["train", "--model", model] if command == "train" else ["optimize", model]
    assert main([*argv, "--model-arg", arg, "--data", "digits", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"slimtorch: error: --model-arg: {allowed}"]
    assert not (tmp_path / "o").exists()
