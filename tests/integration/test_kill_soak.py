"""Kill-soak: a pipeline SIGKILLed at random moments, many times, always resumes to the same result.

The uninterrupted run is the oracle: after every kill the next run resumes, and when a run finally
completes its final weights must equal the oracle's bit for bit, with no temp file left behind.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from slimtorch.pipeline.resume import model_hash

RECIPE = {
    "model": {"name": "mlp", "widths": [64, 32, 10]},
    "data": {"name": "digits", "batch_size": 16, "train_subset": 512, "test_subset": 128},
    "train": {"epochs": 4, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "quiet": True},
    "stages": ["train", {"magnitude_prune": {"sparsity": 0.5}}, {"train": {"epochs": 3, "lr": 0.01}},
               {"measure": {"repeats": 1, "warmup": 0, "batch_sizes": [1], "backends": ["eager"],
                            "sensitivity": False}}],
    "report": {"plots": False},
}


def _start(recipe: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "slimtorch.cli", "run", str(recipe), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)


def _final_hash(out: Path) -> str:
    state = json.loads((out / "state.json").read_text())["stages"]
    last = sorted(k for k, v in state.items() if v.get("saved"))[-1]
    return model_hash(out / "stages" / last)


@pytest.mark.slow
def test_random_sigkills_always_resume_to_the_uninterrupted_result(tmp_path):
    recipe = tmp_path / "soak.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    t0 = time.perf_counter()
    straight = _start(recipe, tmp_path / "straight")
    assert straight.wait(timeout=600) == 0, straight.stderr.read()
    duration = time.perf_counter() - t0
    oracle = _final_hash(tmp_path / "straight")

    rng = random.Random(0)
    out, kills = tmp_path / "killed", 0
    for _ in range(10):
        proc = _start(recipe, out)
        try:  # kill moments spread over the start-up, the stages and the saves of the resumed run
            proc.wait(timeout=rng.uniform(1.0, 0.6 * duration))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read()
        break
    final = _start(recipe, out)  # finishes the run (or, if already complete, skips every stage)
    assert final.wait(timeout=600) == 0, final.stderr.read()
    assert kills >= 3, f"only {kills} kills landed: the soak proved little"
    assert _final_hash(out) == oracle
    assert not [p for p in out.rglob("*.tmp")], "temp files of killed writes were left behind"
    state = json.loads((out / "state.json").read_text())["stages"]
    assert all(rec["status"] == "done" for rec in state.values())
    for name, rec in state.items():
        if rec.get("saved"):
            assert rec["model_hash"] == model_hash(out / "stages" / name)
