"""Inputs a new user tries that the authors did not design for: each is one line naming the flag and what to
give instead (exit 2), refused before any training or timing, and nothing is written."""

import pytest
import torch

import slimtorch as st
from slimtorch.cli import main


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


@pytest.fixture
def a_file(tmp_path):
    (tmp_path / "afile").write_text("not a folder\n")
    return str(tmp_path / "afile")


@pytest.mark.parametrize("model,shape,says", [
    ("mlp", "3,32,32", "it takes [784] (the zoo mlp's input); give --input-shape 784"),
    ("lenet5", "1,8,8", "give --input-shape 1,28,28"),
])
def test_prune_input_shape_the_model_cannot_take_gives_the_right_one(capsys, model, shape, says):
    assert main(["prune", model, "--input-shape", shape]) == 2
    err = _one_line(capsys)
    assert says in err and "mat1" not in err and "example_inputs" not in err


def test_prune_text_encoder_with_an_input_shape_says_it_takes_token_ids(capsys):
    assert main(["prune", "minilm", "--input-shape", "12"]) == 2
    assert "--input-shape: minilm takes token ids" in _one_line(capsys)


def test_bench_json_naming_a_folder_is_refused_before_timing(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[4, 3, 2]), tmp_path / "m", extra={"input_shape": [4]})
    assert main(["bench", str(tmp_path / "m"), "--json", str(tmp_path), "--repeats", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was measured first
    assert f"--json: cannot write {tmp_path}: it is a folder" in captured.err


@pytest.mark.parametrize("extra,says", [
    (["--model-arg", "x=["], "--model-arg x: cannot parse '['"),
    (["--model-arg", "foo=3"], "--model-arg: model 'mlp': unknown argument(s) ['foo']"),
    (["--data", "images:EMPTY"], "--data: images:"),
])
def test_optimize_bad_model_args_and_data_name_their_flag(tmp_path, capsys, extra, says):
    (tmp_path / "empty").mkdir()
    argv = ["optimize", "mlp", "--data", "digits", *extra, "--out", str(tmp_path / "o"), "--minutes", "0.1"]
    assert main([a.replace("EMPTY", str(tmp_path / "empty")) for a in argv]) == 2
    assert says in _one_line(capsys)
    assert not (tmp_path / "o").exists()


def test_optimize_out_naming_a_file_is_refused_before_training(a_file, capsys):
    assert main(["optimize", "mlp", "--data", "digits", "--out", a_file, "--minutes", "0.1"]) == 2
    assert f"--out: cannot write {a_file}/model/model.json: {a_file} is a file" in _one_line(capsys)


def test_optimize_model_args_for_a_saved_folder_are_refused(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[64, 8, 10]), tmp_path / "mlp")  # a folder named like the zoo model
    monkeypatch.chdir(tmp_path)
    assert main(["optimize", "mlp", "--data", "digits", "--model-arg", "widths=[64,4,10]", "--out", "o"]) == 2
    assert "--model-arg: only for a zoo MODEL; mlp is a folder here" in _one_line(capsys)
    assert main(["optimize", "mlp", "--data", "digits", "--epochs", "5", "--out", "o"]) == 2  # it trains nothing
    assert "--epochs: only for a zoo MODEL; mlp is a folder here" in _one_line(capsys)


def test_optimize_sizes_a_zoo_mlp_to_the_data_as_train_does():
    from slimtorch.cli.optimize import _mlp_widths

    train, _ = st.data.load("digits")
    raw = {"model": {"name": "mlp", "kwargs": {}}}
    assert _mlp_widths(raw, train) and raw["model"]["kwargs"]["widths"] == [64, 128, 10]
    given = {"model": {"name": "mlp", "kwargs": {"widths": [64, 4, 10]}}}
    assert not _mlp_widths(given, train) and given["model"]["kwargs"]["widths"] == [64, 4, 10]
    unlabeled = st.data.ArrayDataset(train.x, torch.full_like(train.y, -1))
    assert not _mlp_widths({"model": {"name": "mlp", "kwargs": {}}}, unlabeled)


def test_run_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    assert main(["run", str(tmp_path)]) == 2
    assert f"recipe: {tmp_path} is a folder; give a recipe file" in _one_line(capsys)


@pytest.mark.parametrize("command", [["run", "RECIPE"], ["demo"]])
def test_run_and_demo_out_naming_a_file_name_the_flag(tmp_path, a_file, capsys, command):
    (tmp_path / "r.yaml").write_text("model: {name: mlp}\n")
    argv = [a.replace("RECIPE", str(tmp_path / "r.yaml")) for a in command]
    assert main([*argv, "--out", a_file, "--quiet"]) == 2
    assert f"--out: {a_file} is a file" in _one_line(capsys)


def test_optimize_on_too_few_rows_to_validate_is_refused_before_training(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(24, 4)).astype("float32"), y=np.arange(24) % 2)
    out = tmp_path / "o"  # 24 rows: 19 train, of which the default tenth (1 row) would validate
    assert main(["optimize", "mlp", "--data", f"npz:{tmp_path / 'd.npz'}", "--out", str(out)]) == 2
    assert "which leave 1 for validation; the search needs at least 2" in _one_line(capsys)
    assert main(["optimize", "mlp", "--data", f"npz:{tmp_path / 'd.npz'}", "--val-rows", "1", "--out", str(out)]) == 2
    assert "--val-rows: got 1; allowed: an integer >= 2" in _one_line(capsys)
    assert not out.exists()


def test_a_folder_of_saved_models_names_them(tmp_path, capsys):
    torch.manual_seed(0)
    for name in ("00-train", "01-channel_prune"):
        st.save(st.models.build("mlp", widths=[4, 3, 2]), tmp_path / "stages" / name)
    assert main(["bench", str(tmp_path / "stages")]) == 2
    err = _one_line(capsys)
    assert "holds no saved model itself (no model.json); its folders do: " in err
    assert str(tmp_path / "stages" / "00-train") in err and str(tmp_path / "stages" / "01-channel_prune") in err


def test_train_on_a_missing_file_names_data(tmp_path, capsys):
    missing = f"csv:{tmp_path / 'nothere.csv'}"
    assert main(["train", "--model", "mlp", "--data", missing, "--out", str(tmp_path / "o")]) == 2
    assert _one_line(capsys).startswith("slimtorch: error: --data: csv:")


def test_train_model_too_large_to_allocate_is_one_line(tmp_path, capsys):
    argv = ["train", "--model", "mlp", "--data", "digits", "--model-arg", "widths=[64,100000000000,10]"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert "--model-arg: building mlp with" in _one_line(capsys)


def test_train_sizes_the_mlp_to_the_classes_of_both_splits(tmp_path, capsys):
    train, test = st.data.load("digits", limit=1)  # one row each: the test row's class is not the training row's
    classes = int(max(train.y.max(), test.y.max())) + 1
    assert classes > int(train.y.max()) + 1
    assert main(["train", "--model", "mlp", "--data", "digits", "--limit", "1", "--epochs", "1",
                 "--out", str(tmp_path / "o")]) == 0
    assert st.load(tmp_path / "o" / "model")(test.x).shape == (1, classes)


def test_train_on_more_classes_than_the_zoo_model_gives_names_the_flag(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(60, 1, 28, 28)).astype("float32"), y=np.arange(60) % 12)
    argv = ["train", "--model", "lenet5", "--data", f"npz:{tmp_path / 'd.npz'}", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert _one_line(capsys).strip().endswith("has 12 classes; set the model's number of classes to 12: "
                                              "add --model-arg num_classes=12")
    assert main([*argv, "--model-arg", "num_classes=12", "--out", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize("argv,flag", [
    (["prune", "lenet5", "--out", ""], "--out"),  # saved nothing, silently
    (["train", "--model", "mlp", "--data", "digits", "--out", " "], "--out"),  # trained into runs/mlp-digits
    (["optimize", "mlp", "--data", "digits", "--out", ""], "--out"),
    (["run", "r.yaml", "--out", ""], "--out"),
    (["bench", "m", "--json", ""], "--json"),
    (["bench", ""], "path"),  # the current folder
])
def test_an_empty_path_is_refused(argv, flag, capsys):
    assert main(argv) == 2
    assert _one_line(capsys).startswith(f"slimtorch: error: {flag}: got an empty path")


@pytest.mark.parametrize("command", [["run", "RECIPE", "--quiet"], ["demo", "--quiet"],
                                     ["optimize", "mlp", "--data", "digits"],
                                     ["train", "--model", "mlp", "--data", "digits", "--quiet"], ["prune", "lenet5"]])
def test_out_naming_a_folder_of_other_files_is_refused(tmp_path, capsys, command):
    (tmp_path / "r.yaml").write_text("model: {name: mlp}\n")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"not read")  # a typo'd --out must not fill the user's photo folder
    argv = [a.replace("RECIPE", str(tmp_path / "r.yaml")) for a in command]
    assert main([*argv, "--out", str(photos)]) == 2
    assert f"--out: {photos} holds other files (1: cat.jpg) and is not an output folder" in _one_line(capsys)
    assert [p.name for p in photos.iterdir()] == ["cat.jpg"]
