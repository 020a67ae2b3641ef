"""`slimtorch prune` and `slimtorch bench` take the folder a command wrote, as a user passes it: a model
folder, the --out of train/optimize (its model/), or a run directory (its final stage); anything else is
one line naming what is allowed."""

import json

import pytest
import torch

import slimtorch as st
from slimtorch.cli import UsageError, main
from slimtorch.cli.folders import model_dir


def _mlp(widths):
    torch.manual_seed(0)
    return st.models.build("mlp", widths=widths)


def _run_dir(tmp_path, final="channel_prune"):
    """A run directory as the runner lays it out: stages/NN-name with a saved model each, metrics.json."""
    run = tmp_path / "run"
    st.save(_mlp([3, 8, 3]), run / "stages" / "00-train", extra={"stage": "train", "input_shape": [3]})
    st.save(_mlp([3, 4, 3]), run / "stages" / "01-channel_prune",
            extra={"stage": "channel_prune", "input_shape": [3]})
    (run / "stages" / "02-measure").mkdir()
    if final:
        (run / "metrics.json").write_text(json.dumps({"final_stage": final}))
    return run


def test_model_dir_resolves_each_folder_a_command_writes(tmp_path):
    st.save(_mlp([3, 8, 3]), tmp_path / "trained" / "model")
    assert model_dir(tmp_path / "trained" / "model") == tmp_path / "trained" / "model"
    assert model_dir(tmp_path / "trained") == tmp_path / "trained" / "model"  # train/optimize --out
    run = _run_dir(tmp_path)
    assert model_dir(run) == run / "stages" / "01-channel_prune"  # the final stage, not the first
    (run / "metrics.json").write_text(json.dumps({"final_stage": "train"}))
    assert model_dir(run) == run / "stages" / "00-train"


@pytest.mark.parametrize("case", ["missing", "file", "empty", "unfinished"])
def test_model_dir_refuses_in_one_line_naming_what_is_allowed(tmp_path, case):
    path = {"missing": tmp_path / "nope", "file": tmp_path / "f.safetensors", "empty": tmp_path / "empty"}.get(case)
    if case == "file":
        path.write_bytes(b"x")
    elif case == "empty":
        path.mkdir()
    elif case == "unfinished":
        path = _run_dir(tmp_path, final=None)
    with pytest.raises(UsageError) as err:
        model_dir(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    assert ("00-train" in msg and "01-channel_prune" in msg) if case == "unfinished" else "st.save" in msg


def test_prune_and_bench_take_a_run_directory(tmp_path, capsys):
    run = _run_dir(tmp_path)
    assert main(["prune", str(run), "--ratio", "0.5", "--out", str(tmp_path / "pruned")]) == 0
    assert st.load(tmp_path / "pruned").fc1.out_features == 2  # halved the final stage's 4, not train's 8
    assert main(["bench", str(run), "--repeats", "1", "--batch-sizes", "1", "--backends", "eager"]) == 0
    assert "01-channel_prune" in capsys.readouterr().out


def test_prune_of_neither_a_zoo_name_nor_a_folder_is_one_line(tmp_path, capsys):
    assert main(["prune", str(tmp_path / "lenet"), "--ratio", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lenet5" in err and "st.save" in err


def test_files_from_other_libraries_are_named_with_the_way_in(tmp_path):
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "weights.pth")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")
    with pytest.raises(UsageError, match=r"pickled PyTorch file, which slimtorch never opens.*weights_only=True"):
        model_dir(tmp_path / "weights.pth")
    with pytest.raises(UsageError, match=r"Hugging Face save_pretrained folder .*st.save\(model, DIR, spec="):
        model_dir(tmp_path / "hf")


@pytest.mark.parametrize("leftover, words", [
    (("trials", "abc.json"), "an optimize --out whose search has not written its model (interrupted?)"),
    (("latest.json",), "a train --out whose training has not finished (interrupted?)"),
])
def test_an_unfinished_train_or_optimize_folder_says_resume(tmp_path, leftover, words):
    out = tmp_path / "out"  # before: "holds no saved model (no model.json)" and the generic list
    (out / leftover[0]).parent.mkdir(parents=True, exist_ok=True)
    if len(leftover) == 2:
        (out / leftover[0]).mkdir()
        (out / leftover[0] / leftover[1]).write_text("{}")
    else:
        (out / leftover[0]).write_text("{}")
    with pytest.raises(UsageError) as err:
        model_dir(out)
    msg = str(err.value)
    assert f"{out} is {words}" in msg and "--resume" in msg and "\n" not in msg
