"""Two processes under torchrun (gloo, CPU): every rank ends with the same parameters, equal to a
single-process run whose batch is the two ranks' batches together."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
import ddp_worker  # noqa: E402


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(ddp_worker.__file__)), str(tmp_path), "8"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    # only rank 0 writes the run directory
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["ckpt-2.json", "ckpt-2.safetensors",
                                                                   "latest.json", "metrics.jsonl"]

    single = tmp_path / "single"
    single.mkdir()
    ddp_worker.main(single, 16)  # same rows per step: 2 ranks x 8 == 1 process x 16
    s = load_file(single / "rank0.safetensors")
    for k in s:
        torch.testing.assert_close(r0[k], s[k], rtol=1e-5, atol=1e-6)
