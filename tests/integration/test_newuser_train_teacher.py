"""`slimtorch train --teacher` on unlabeled photos with the default --alpha: the refusal names the flag the
user can change and what to pass, not a config field the user never typed."""

import torch

import slimtorch as st
from slimtorch.cli import main


def test_label_free_distillation_with_the_default_alpha_names_the_flag(tmp_path, capsys):
    from PIL import Image

    for i in range(6):  # photos straight in the folder: no labels; 224x224 RGB by default
        Image.new("RGB", (8, 8), (30 * i, 0, 0)).save(tmp_path / f"{i}.png")
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[150528, 8, 3]), tmp_path / "teacher")
    base = ["train", "--model", "mlp", "--model-arg", "widths=[150528,4,3]", "--data", f"images:{tmp_path}",
            "--epochs", "1", "--quiet", "--teacher", str(tmp_path / "teacher")]
    assert main(base + ["--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slimtorch: error: --alpha: got 0.9") and "--alpha 1" in err and err.count("\n") == 1
    assert not (tmp_path / "s" / "model").exists()
    assert main(base + ["--out", str(tmp_path / "ok"), "--alpha", "1"]) == 0  # the way out the line names works
    assert (tmp_path / "ok" / "model" / "model.json").is_file()
