"""The int8 step: the int8 model replaces the chosen fp32 one only when it keeps the budget and wins on the
objective; the recipe then ends with the int8 stage that rebuilds it."""

import importlib

import pytest
import torch

import slimtorch as st
from slimtorch.search.result import OptimizeResult
from slimtorch.search.space import Group
from slimtorch.search.trial import Trial

choose_mod = importlib.import_module("slimtorch.search.choose")


def _trial(index, keep, val, nbytes, ms, int8=None):
    return Trial(index, keep, val, 100, nbytes, {"onnxruntime": ms}, 10.0, int8=int8, test=val)


def _result(objective):
    base = _trial(0, (8,), 99.0, 4000, 10.0)
    res = OptimizeResult(model=None, baseline=base, objective=objective, metric="accuracy", max_drop=0.5,
                         batch_size=64, groups=[Group(("fc",), 8)])
    res.recipe = {"head": {"stages": [{"train": {}}]}, "recovery": [{"distill": {"epochs": 1}}]}
    res.chosen = _trial(1, (4,), 98.8, 2000, 2.0)
    res.trials.append(res.chosen)
    return res


@pytest.mark.parametrize("objective,val,nbytes,ms,fp32_ms,taken", [
    ("size", 98.7, 500, 3.0, 2.0, True),       # smaller, within budget: taken although slower
    ("size", 98.4, 500, 1.0, 2.0, False),      # over budget (99.0 - 0.5)
    ("latency", 98.7, 500, 3.0, 2.0, False),   # slower than the fp32 model measured in the same run
    ("latency", 98.7, 500, 1.5, 2.0, True),    # faster, within budget
])
def test_int8_replaces_the_choice_only_when_it_wins(monkeypatch, objective, val, nbytes, ms, fp32_ms, taken):
    res = _result(objective)
    fp32 = res.chosen
    q = _trial(2, (4,), val, nbytes, ms, int8={"calib_batches": 16, "max_accuracy_drop": 0.005})
    monkeypatch.setattr(choose_mod, "int8_trial", lambda *a, **k: (q, fp32_ms))
    choose_mod.try_int8(res, None, None, torch.zeros(1), lambda m: None)
    assert (res.chosen is q) == taken and q in res.trials
    assert (res.chosen is fp32) != taken
    stages = res.stages()
    assert [next(iter(s)) for s in stages] == ["channel_prune", "distill"] + (["int8"] if taken else [])
    if not taken:
        assert any("fp32 model is kept" in n for n in res.notes)


@pytest.mark.slow  # quantizes and scores a small MLP: ~10 s on 2 busy cores
def test_int8_trial_is_a_scored_quantized_model():
    from slimtorch.quantization import QuantizedModel
    from slimtorch.search.int8 import int8_trial
    from slimtorch.search.score import Scorer

    torch.manual_seed(0)
    train, test = st.data.load("digits")
    model = st.models.build("mlp", widths=(64, 32, 10))
    st.fit(model, train, st.TrainConfig(epochs=3, batch_size=64, lr=0.1, momentum=0.9, quiet=True))
    model.eval()
    val = Scorer(test, model, n_test=1000)
    base = Trial(0, (32,), val(model), 0, st.bench.saved_bytes(model), {"eager": 1.0}, 1.0, model=model)
    res = _result("size")
    res.baseline = base
    q, fp32_ms = int8_trial(res, base, train, val, train.x[:16], lambda m: None)
    assert isinstance(q.model, QuantizedModel) and q.int8["max_accuracy_drop"] == pytest.approx(0.005)
    assert q.int8["observer"] == "auto" and q.model.observer_note.startswith("observer auto: ")  # as the recipe
    assert q.bytes < base.bytes and fp32_ms > 0
    assert q.val == pytest.approx(val(q.model)) and abs(q.val - base.val) < 3  # int8 of an MLP: close to fp32
    # judged on validation with its margin (the paired error of its rows against the original's; 0 when the int8
    # model is right on exactly the same rows); the test set is not read here
    from slimtorch.search.margin import paired_se

    assert q.test is None and q.se == pytest.approx(paired_se(val.rows(model), val.rows(q.model), 1000))


def test_judged_uses_the_scorers_standard_error_and_none_for_a_plain_function():
    from slimtorch.search.margin import judged

    class Judge:
        def judge(self, model):
            return 97.0, 0.4

    assert judged(Judge(), object()) == (97.0, 0.4)
    assert judged(lambda m: 95.5, object()) == (95.5, 0.0)
