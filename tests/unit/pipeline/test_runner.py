"""The runner: run dir layout, resume by hash, rerun on change, interrupt + resume, SIGTERM."""

import json
import os
import signal

import pytest
import torch

import slimtorch as st
from slimtorch.pipeline import runner, stages
from slimtorch.recipe import parse_recipe

TINY = {
    "model": {"name": "mlp", "widths": [64, 16, 10]},
    "data": {"name": "digits", "batch_size": 32, "train_subset": 256, "test_subset": 128},
    "train": {"epochs": 2, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "quiet": True},
    "stages": [
        "train",
        {"train": {"epochs": 2, "lr": 0.02}},
        {"magnitude_prune": {"sparsity": 0.5}},
        {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [1, 8], "backends": ["eager"], "sensitivity": False}},
    ],
    "report": {"plots": False},  # plots are checked in test_report and the CLI end-to-end test
}


def tiny(**changes):
    d = json.loads(json.dumps(TINY))
    for path, value in changes.items():
        from slimtorch.recipe import apply_override

        apply_override(d, f"{path}={json.dumps(value)}")
    return parse_recipe(d, name="tiny")


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_run_dir_layout_and_resume_skips_unchanged(tmp_path, capsys):
    out = tmp_path / "run"
    first = runner.run(tiny(), out=out, quiet=True)
    names = sorted(p.name for p in (out / "stages").iterdir())
    assert names == ["00-train", "01-train", "02-magnitude_prune"]  # measure writes no model
    for n in names:
        assert (out / "stages" / n / "model.safetensors").exists() and (out / "stages" / n / "model.json").exists()
    for f in ("metrics.json", "state.json", "recipe.json", "model.onnx", "report.md", "report.html"):
        assert (out / f).exists(), f
    assert [s["skipped"] for s in first.metrics["stages"]] == [False] * 4
    assert first.metrics["baseline"] == "train-0" and first.metrics["final_stage"] == "magnitude_prune"
    loss = first.metrics["stages"][0]["history"]["loss"]
    assert loss[-1] < loss[0]
    rows = {r["label"]: r for r in first.metrics["measure"]["rows"]}
    assert rows["train-0"]["speedup"]["8"] == pytest.approx(1.0)
    assert rows["magnitude_prune"]["nonzero_params"] < rows["train-1"]["nonzero_params"]
    assert "train-0" in capsys.readouterr().out  # the console table is printed even when quiet

    mtime = (out / "stages" / "00-train" / "model.safetensors").stat().st_mtime_ns
    again = runner.run(tiny(), out=out, quiet=True)
    assert [s["skipped"] for s in again.metrics["stages"]] == [True] * 4
    assert (out / "stages" / "00-train" / "model.safetensors").stat().st_mtime_ns == mtime
    assert again.metrics["measure"] == first.metrics["measure"]  # the skipped measure keeps its numbers
    torch.testing.assert_close(weights(again.model), weights(first.model))

    # how a stage reports is not part of its key
    quiet_off = runner.run(tiny(**{"train.quiet": False}), out=out, quiet=True)
    assert [s["skipped"] for s in quiet_off.metrics["stages"]] == [True] * 4

    # changing one field reruns that stage and every later one, never an earlier one
    changed = runner.run(tiny(**{"stages[1].train.lr": 0.05}), out=out, quiet=True)
    assert [s["skipped"] for s in changed.metrics["stages"]] == [True, False, False, False]


def test_pruned_model_reloads_from_its_stage_folder(tmp_path):
    res = runner.run(tiny(), out=tmp_path, quiet=True)
    loaded = st.load(tmp_path / "stages" / "02-magnitude_prune")
    torch.testing.assert_close(weights(loaded), weights(res.model))


class _StopAtSecondEpoch(st.Hook):
    def on_step_start(self, state):
        if state.epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_stage_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    straight = runner.run(tiny(), out=tmp_path / "straight", quiet=True)

    def interrupting(stage, model, ctx, stage_dir, resume):
        hooks = [_StopAtSecondEpoch()] if stage.index == 1 else []
        return stages._fit(stage, model, ctx, stage_dir, resume, hooks=hooks)

    monkeypatch.setitem(stages.APPLIERS, "train", stages.Applier(interrupting, True))
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        runner.run(tiny(), out=out, quiet=True)
    state = json.loads((out / "state.json").read_text())["stages"]
    assert state["00-train"]["status"] == "done" and state["01-train"]["status"] == "running"
    assert (out / "stages" / "01-train" / "checkpoints" / "latest.json").exists()
    monkeypatch.undo()

    resumed = runner.run(tiny(), out=out, quiet=True)
    recs = resumed.metrics["stages"]
    assert [r["skipped"] for r in recs] == [True, False, False, False]
    assert recs[1]["info"]["resumed"] is True
    assert len(recs[1]["history"]["loss"]) == 2  # epoch 1 from the checkpoint, epoch 2 run now
    torch.testing.assert_close(weights(resumed.model), weights(straight.model))


def test_sigterm_stops_like_ctrl_c():
    with pytest.raises(KeyboardInterrupt):
        with runner.interrupts_as_keyboard():
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.default_int_handler) or callable(
        signal.getsignal(signal.SIGTERM))


def test_bad_recipe_writes_nothing(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(st.ConfigError, match=r"^model: rejects input of shape \[1, 8, 8\]"):
        runner.run(tiny(**{"model.widths": [100, 10]}), out=out, quiet=True)
    assert not out.exists()


def test_int8_stage_records_its_observer_and_fallback(tmp_path):
    d = json.loads(json.dumps(TINY))
    d["stages"] = ["train", {"int8": {"backend": "integer", "calib_batches": 2, "observer": "auto",
                                      "max_accuracy_drop": 0.5}}, TINY["stages"][-1]]
    res = runner.run(parse_recipe(d, name="tiny-int8"), out=tmp_path, quiet=True)
    info = res.metrics["stages"][1]["info"]
    assert info["observer_note"].startswith("observer auto: ")
    assert info["fallback_report"]["metric"] == "accuracy" and info["fallback_report"]["float_layers"] == []
