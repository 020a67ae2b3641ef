import pytest
import torch

from slimtorch.bench import latency


def test_compare_is_interleaved_round_robin():
    calls = []
    result = latency.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert set(result) == {"a", "b"} and all(v >= 0 for v in result.values())


def test_compare_inner_calls_and_median():
    calls = []
    latency.compare({"x": lambda: calls.append(1)}, repeats=2, warmup=0, inner=5)
    assert len(calls) == 10


def test_compare_runs_without_autograd():
    grad = []
    latency.compare({"g": lambda: grad.append(torch.is_grad_enabled())}, repeats=1, warmup=0)
    assert grad == [False]


@pytest.mark.parametrize("kwargs,match", [({"fns": {}}, "at least one"),
                                          ({"fns": {"a": lambda: None}, "repeats": 0}, "repeats")])
def test_compare_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        latency.compare(**kwargs)


def test_threads_note():
    assert latency.threads() == torch.get_num_threads()
    assert f"threads={torch.get_num_threads()}" in latency.threads_note()


@pytest.mark.parametrize("samples, expected", [
    ([3.0], (3.0, 3.0, 3.0, 3.0)),
    ([1.0, 2.0, 3.0, 4.0, 5.0], (1.0, 3.0, 2.0, 4.0)),
    ([4.0, 1.0, 3.0, 2.0], (1.0, 2.5, 1.75, 3.25)),  # numpy's linear interpolation
])
def test_summarize_matches_numpy_quantiles(samples, expected):
    import numpy as np

    t = latency.summarize(samples)
    got = (t.min, t.median, t.q1, t.q3)
    assert got == pytest.approx(expected)
    assert (t.q1, t.q3) == pytest.approx(tuple(np.quantile(samples, [0.25, 0.75])))
    assert t.iqr == pytest.approx(expected[3] - expected[2]) and t.rounds == len(samples)


def test_spread_and_ms_form():
    t = latency.Timing(min=0.001, median=0.002, q1=0.0015, q3=0.0025, rounds=7)
    assert t.spread == pytest.approx(0.5)
    ms = t.to_ms()
    assert ms["median"] == pytest.approx(2.0) and ms["iqr"] == pytest.approx(1.0) and ms["min"] == pytest.approx(1.0)


def _load(others, threads=1, cpus=2):
    from slimtorch.bench.machine import MachineLoad

    return MachineLoad(cpus=cpus, others_running=others, load_1min=others, threads=threads)


@pytest.mark.parametrize("others, threads, cpus, over", [(0, 2, 2, False), (1, 1, 2, False), (1, 2, 2, True),
                                                         (5, 1, 2, True), (14, 2, 16, False)])
def test_oversubscribed(others, threads, cpus, over):
    assert _load(others, threads, cpus).oversubscribed is over


def test_doubts_flag_spread_and_load():
    steady = latency.Timing(1.0, 1.0, 0.95, 1.05, 10)
    noisy = latency.Timing(1.0, 1.0, 0.8, 1.3, 10)
    assert latency.doubts({"a": steady}, _load(0)) == []
    flags = latency.doubts({"a": steady, "b": noisy}, _load(3))
    assert flags[0] == "b: IQR/median 0.50 > 0.25"
    assert flags[1].startswith("machine oversubscribed: 2 CPUs available, 3 busy")


def test_trusted_timings_measures_again_once_when_doubtful(monkeypatch):
    loads = iter([_load(5), _load(5)])
    monkeypatch.setattr(latency, "machine_load", lambda *a: next(loads))
    calls = []
    timings, flags = latency.trusted_timings({"a": lambda: calls.append(1)}, repeats=3, warmup=0)
    assert len(calls) == 6  # two full measurements, no more
    assert flags and flags[-1].startswith("machine oversubscribed")
    monkeypatch.setattr(latency, "machine_load", lambda *a: _load(0))
    calls.clear()
    _, flags = latency.trusted_timings({"a": lambda: calls.append(1)}, repeats=3, warmup=0, max_spread=1e9)
    assert flags == [] and len(calls) == 3


def test_choose_threads(monkeypatch):
    from slimtorch.bench import machine

    assert machine.choose_threads(3) == (3, "threads=3 (requested)")
    with pytest.raises(ValueError, match="threads: got 0"):
        machine.choose_threads(0)
    monkeypatch.setattr(machine, "available_cpus", lambda: 8)
    monkeypatch.setattr(machine, "others_running", lambda: 6.0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert machine.choose_threads() == (2, "threads=2 (chosen: 8 CPUs available, 6 busy with other processes)")
    monkeypatch.setattr(machine, "others_running", lambda: 11.0)
    assert machine.choose_threads()[0] == 1  # never below one
