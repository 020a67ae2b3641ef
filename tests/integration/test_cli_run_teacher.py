"""`slimtorch run` with a `distill` stage whose `teacher: DIR` does not fit the data or the student: one line,
exit 2, run directory untouched (it was a RuntimeError traceback from inside the distillation stage)."""

import pytest
import torch

import slimtorch as st
from slimtorch.cli import main

RECIPE = """
model: {{name: mlp, widths: [64, 8, 10]}}
data: {{name: digits, train_subset: 64, test_subset: 32}}
train: {{epochs: 1}}
stages:
  - train
  - distill: {{teacher: {teacher}}}
"""


@pytest.mark.parametrize("widths, expect", [
    ([3, 8, 10], "stages[1].distill.teacher: rejects input of shape [1, 8, 8] per sample"),
    ([64, 8, 12], "stages[1].distill.teacher: gives outputs of shape [12] per sample but the student [10]; "
                  "loss auto compares them"),
])
def test_teacher_that_does_not_fit(tmp_path, capsys, widths, expect):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=widths), tmp_path / "teacher")
    (tmp_path / "r.yaml").write_text(RECIPE.format(teacher=tmp_path / "teacher"))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"slimtorch: error: {expect}") and err.count("\n") == 1, err
    assert not out.exists()
