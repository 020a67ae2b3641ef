"""A corrupt state.json costs a rerun of every stage, never a wrong skip, and never silently; the run's
header line counts its stages and threads in good English."""

import json

import pytest
import torch

from slimtorch.pipeline import runner
from slimtorch.pipeline.resume import RunState
from slimtorch.recipe import parse_recipe

GOOD = {"format": "slimtorch-run", "version": 1, "stages": {"00-train": {"status": "done", "key": "k"}}}


@pytest.mark.parametrize("content", [b"{not json", json.dumps([1, 2]).encode(), json.dumps({"stages": [1]}).encode(),
                                     json.dumps({"stages": {"00-train": 3}}).encode(), b"\xff\xfe{}"])
def test_corrupt_state_is_set_aside_with_a_reason(tmp_path, content):
    (tmp_path / "state.json").write_bytes(content)
    state = RunState(tmp_path)
    assert state.records == {} and state.problem == (
        f"{tmp_path / 'state.json'} is corrupt (not the JSON a run writes); starting over: every stage runs again")


def test_good_or_missing_state_has_no_problem(tmp_path):
    assert RunState(tmp_path).problem is None
    (tmp_path / "state.json").write_text(json.dumps(GOOD))
    state = RunState(tmp_path)
    assert state.problem is None and state.records == GOOD["stages"]


def test_run_says_it_starts_over_and_pluralises(tmp_path, capsys):
    recipe = parse_recipe({"model": {"name": "mlp", "widths": [64, 8, 10]},
                           "data": {"name": "digits", "train_subset": 64, "test_subset": 32},
                           "train": {"epochs": 1, "quiet": True},
                           "stages": ["train"], "report": {"plots": False}}, name="tiny")
    out = tmp_path / "run"
    out.mkdir()
    (out / "state.json").write_text("{truncated")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner.run(recipe, out=out)
    finally:
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    assert f"slimtorch run: warning: {out / 'state.json'} is corrupt" in captured.err
    assert captured.err.count("\n") == 1
    assert "(2 stages, 1 thread)" in captured.out  # train + the default measure; it said "1 threads"
    assert json.loads((out / "state.json").read_text())["stages"]  # rewritten with the finished stages
