"""A distill teacher that is a folder without model.json (a run directory, a user's own folder) was
"slimtorch: error: rB/model.json not found: is rB a folder written by st.save?" with no field path; now the
field path, the saved models inside it and what is allowed, before any stage runs."""

import torch
import yaml

import slimtorch as st
from slimtorch.cli import main


def test_a_run_directory_as_teacher_names_its_saved_stages(tmp_path, capsys):
    torch.manual_seed(0)
    st.save(st.models.build("mlp", widths=[64, 16, 10]), tmp_path / "old" / "stages" / "00-train")
    recipe = {"model": {"name": "mlp", "widths": [64, 16, 10]}, "data": {"name": "digits"},
              "stages": ["train", {"distill": {"teacher": str(tmp_path / "old"), "epochs": 1}}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"slimtorch: error: stages[1].distill: {tmp_path / 'old'} holds no model.json")
    assert str(tmp_path / "old" / "stages" / "00-train") in err[0]
    assert "allowed: 'baseline', a folder written by st.save" in err[0]
    assert not out.exists()
