"""`slimtorch prune/train/optimize --out` never silently replaces a model saved there earlier:
one line, exit 2, the old files unchanged, unless --force (train, optimize: or --resume)."""

import torch

import slimtorch as st
from slimtorch.cli import main

TRAIN = ["train", "--model", "mlp", "--model-arg", "widths=[64,8,10]", "--data", "digits", "--limit", "64",
         "--epochs", "1", "--quiet"]


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_prune_out_refuses_a_saved_model_folder_unless_force(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[3, 8, 3]), tmp_path / "src", extra={"input_shape": [3]})
    st.save(st.models.build("mlp", widths=[3, 6, 3]), tmp_path / "old")
    before = _files(tmp_path / "old")
    assert main(["prune", str(tmp_path / "src"), "--out", str(tmp_path / "old")]) == 2
    err = capsys.readouterr().err
    assert err == (f"slimtorch: error: --out: {tmp_path / 'old'} already holds a saved model; pass --force to "
                   "overwrite it, or choose another folder\n")
    assert _files(tmp_path / "old") == before
    assert main(["prune", str(tmp_path / "src"), "--out", str(tmp_path / "old"), "--force"]) == 0
    assert st.load(tmp_path / "old").fc1.out_features == 4  # the pruned 8 -> 4, not the old 6


def test_train_out_refuses_a_finished_run_unless_resume_or_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(TRAIN + ["--out", str(out)]) == 0
    before = _files(out / "model")
    assert main(TRAIN + ["--seed", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"slimtorch: error: --out: {out / 'model'} already holds a saved model; pass --resume to "
                          "continue its training, --force to overwrite it") and err.count("\n") == 1
    assert _files(out / "model") == before
    assert main(TRAIN + ["--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert main(TRAIN + ["--seed", "3", "--out", str(out), "--force"]) == 0
    assert _files(out / "model")["model.safetensors"] != before["model.safetensors"]


def test_optimize_out_refuses_an_earlier_result_unless_resume_or_force(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[64, 6, 10]), tmp_path / "opt" / "model")  # an earlier search's choice
    before = _files(tmp_path / "opt" / "model")
    assert main(["optimize", "mlp", "--data", "digits", "--minutes", "0.1", "--out", str(tmp_path / "opt")]) == 2
    err = capsys.readouterr().err
    assert err == (f"slimtorch: error: --out: {tmp_path / 'opt' / 'model'} already holds a saved model; pass "
                   "--resume to continue its search, --force to overwrite it, or choose another folder\n")
    assert _files(tmp_path / "opt" / "model") == before and not (tmp_path / "opt" / "original").exists()
