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
