"""Training data too small for a distill stage's held-out split: was "val_fraction: 1 row(s) leave nothing to
train on" (a field the recipe never set) after the train and prune stages had run; now one line naming the data
field, before any stage runs (every training stage needs 2 rows: the pipeline reads no algorithm's fields)."""

import yaml

from slimtorch.cli import main


def test_too_few_rows_for_distill_is_refused_before_any_stage(tmp_path, capsys):
    recipe = {"model": {"name": "mlp", "widths": [64, 16, 10]}, "data": {"name": "digits", "train_subset": 1},
              "train": {"epochs": 1}, "stages": ["train", {"channel_prune": {"ratio": 0.5}},
                                                 {"distill": {"teacher": "baseline", "epochs": 1}}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("slimtorch: error: data.train_subset: 1 training row(s); stages[0].train trains on them")
    assert "allowed: at least 2 training rows" in err[0]
    assert not out.exists()
