"""benchmarks/optimize.py's uniform sweep (the bar the search is compared with) runs on a small model: mildest
ratio first until two miss the test budget, int8 of the last two that keep it, weight sharing of the last."""

import sys
from pathlib import Path

import torch

import slimtorch as st

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
import optimize as bench  # noqa: E402


def test_the_uniform_sweep_runs_the_searchs_recovery_int8_and_sharing(monkeypatch):
    torch.manual_seed(0)
    train, test = st.data.load("digits")
    model = st.models.build("mlp", widths=(64, 64, 32, 10))
    cfg = st.TrainConfig(epochs=4, batch_size=64, lr=0.1, momentum=0.9, quiet=True)
    st.fit(model, train, cfg)
    fit_data, val = bench.opt.split(train, 200)
    recovery = cfg.replace(lr=0.01, epochs=1)
    finish = bench.opt._finisher(model.eval(), fit_data, recovery, 1, True)
    monkeypatch.setattr(bench, "UNIFORM", (0.25, 0.875, 0.9375))
    monkeypatch.setattr(bench, "BATCH", 8)
    base_val, base_test = bench._acc(model, val), bench._acc(model, test)
    out = bench.sweep_uniform(model, fit_data, val, test, finish, base_val, base_test, recovery)
    assert list(out)[:3] == ["uniform0.25", "uniform0.875", "uniform0.9375"]  # two misses end the sweep
    assert out["uniform0.25"][3] and not out["uniform0.875"][3]
    assert "uniform0.25-int8" in out and "uniform0.25-shared5" in out
    assert all(0 <= v <= 100 and 0 <= t <= 100 for _, v, t, _ in out.values())
