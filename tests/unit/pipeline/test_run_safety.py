"""A run directory has one writer; a recipe's factory runs only when trusted; tampered stages rerun."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from slimtorch.config import ConfigError
from slimtorch.pipeline import runner
from slimtorch.pipeline.lock import LOCK_FILE, RunLock, clean_orphans
from slimtorch.pipeline.resume import model_hash
from slimtorch.recipe import parse_recipe

TINY = {
    "model": {"name": "mlp", "widths": [64, 8, 10]},
    "data": {"name": "digits", "batch_size": 32, "train_subset": 128, "test_subset": 64},
    "train": {"epochs": 1, "optimizer": "sgd", "lr": 0.1, "quiet": True},
    "stages": ["train", {"magnitude_prune": {"sparsity": 0.5}},
               {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [1], "backends": ["eager"],
                            "sensitivity": False}}],
    "report": {"plots": False},
}


@pytest.fixture()
def factory_module(tmp_path, monkeypatch):
    """A module that leaves a marker file when imported: proof of whether its code ran."""
    (tmp_path / "evil_nets.py").write_text(textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(tmp_path / "imported")!r}).write_text("ran")
        from slimtorch.models import build
        def make():
            return build("mlp", widths=(64, 8, 10))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "imported"
    sys.modules.pop("evil_nets", None)


def test_factory_recipe_needs_trust_and_runs_nothing_without_it(tmp_path, factory_module):
    recipe = parse_recipe({**TINY, "model": {"factory": "evil_nets:make"}}, name="f")
    with pytest.raises(ConfigError, match=r"^model\.factory: 'evil_nets:make' would import and run that code; "
                                          r".*--trust-factory"):
        runner.run(recipe, out=tmp_path / "run", quiet=True)
    assert not factory_module.exists() and not (tmp_path / "run").exists()
    result = runner.run(recipe, out=tmp_path / "run", quiet=True, trust_factory=True)
    assert factory_module.exists() and result.metrics["final_stage"] == "magnitude_prune"


def test_untrusted_rerun_of_a_tampered_stage_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    runner.run(parse_recipe(TINY, name="t"), out=out, quiet=True)
    meta_path = out / "stages" / "00-train" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["spec"] = {"factory": "os:system", "kwargs": {"command": f"touch {tmp_path / 'pwned'}"}}
    meta_path.write_text(json.dumps(meta))
    runner.run(parse_recipe(TINY, name="t"), out=out, quiet=True)  # hash differs: the stage reruns
    assert not (tmp_path / "pwned").exists()
    assert json.loads(meta_path.read_text())["spec"]["name"] == "mlp"
    state = json.loads((out / "state.json").read_text())["stages"]
    assert state["00-train"]["model_hash"] == model_hash(out / "stages" / "00-train")


def test_second_writer_is_refused_with_the_owner_pid(tmp_path):
    out = tmp_path / "run"
    with RunLock(out):
        with pytest.raises(ConfigError, match=rf"^out: {out} is in use by pid {os.getpid()} "):
            runner.run(parse_recipe(TINY, name="t"), out=out, quiet=True)
    assert not out.exists()  # a directory created only for the lock is removed again


def test_lock_of_a_killed_process_is_not_stale(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from slimtorch.pipeline.lock import RunLock
        RunLock({str(out)!r}).__enter__(); (__import__("pathlib").Path({str(out)!r}) / "x").write_text("")
        print("locked", flush=True); time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=f"in use by pid {holder.pid}"), RunLock(out):
            pass
    finally:
        holder.kill()
        holder.wait()
    with RunLock(out):
        assert (out / LOCK_FILE).read_text() == str(os.getpid())


def test_orphaned_temp_files_are_cleaned(tmp_path):
    (tmp_path / "stages" / "00-train").mkdir(parents=True)
    orphan = tmp_path / "stages" / "00-train" / ".model.safetensors.abc123.tmp"
    orphan.write_bytes(b"partial")
    keep = tmp_path / "notes.tmp"
    keep.write_text("user file")
    assert clean_orphans(tmp_path) == [orphan]
    assert not orphan.exists() and keep.exists()


def test_a_measure_batch_too_large_to_build_is_refused_before_the_run_writes(tmp_path):
    measure = {"measure": {**TINY["stages"][2]["measure"], "batch_sizes": [1, 1_000_000_000]}}
    recipe = parse_recipe({**TINY, "stages": ["train", measure]}, name="huge")
    with pytest.raises(ConfigError, match=r"^stages\[1\]\.measure\.batch_sizes: 1,000,000,000 samples of "
                                          r"\[1, 8, 8\] make 64,000,000,000 values; allowed: at most 268,435,456 "
                                          r"per batch") as info:
        runner.run(recipe, out=tmp_path / "run", quiet=True)
    assert "\n" not in str(info.value) and not (tmp_path / "run").exists()


def test_measure_models_refuses_a_batch_too_large_to_build_before_building_it(tmp_path):
    from slimtorch.pipeline.measure import measure_models

    models = {"input": torch.nn.Linear(64, 10)}
    with pytest.raises(ConfigError, match=r"^batch_sizes: 1,000,000,000 samples of \[64\]"):
        measure_models(models, "input", torch.randn(2, 64), eval_data=None, batch_sizes=(1, 10**9),
                       backends=("eager",), repeats=1, warmup=0, work_dir=tmp_path)
