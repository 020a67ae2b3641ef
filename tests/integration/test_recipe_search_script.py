"""scripts/cuda_recipe_search.py drives the accuracy benchmarks' own helpers: its CPU dry run must keep working."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_dry_run_writes_one_row_per_run(tmp_path):
    script = ROOT / "scripts" / "cuda_recipe_search.py"
    cmd = [sys.executable, str(script), "--tiny", "--sections", "hinton,han,kd_prune", "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    rows = [json.loads(line) for line in (tmp_path / "search-hinton-han-kd_prune.jsonl").read_text().splitlines()]
    runs = {r.get("run") for r in rows if r["section"] == "hinton"}
    assert runs == {"teacher", "distilled", "alone"}
    (han,) = [r for r in rows if r["section"] == "han"]
    assert han["model"] == "lenet5_caffe" and han["kept_pct"] == pytest.approx(8.0, abs=0.01)
    (kd,) = [r for r in rows if r["section"] == "kd_prune"]
    assert {"teacher_errors", "plain", "kd"} <= kd.keys()
    assert rows[-1]["section"] == "done" and not any("failed" in r for r in rows)
