"""st.optimize end to end on tiny data: the budget holds on held-out test data, the recipe parses, Ctrl-C keeps
the best so far, bad arguments are one line."""

import copy
import importlib

import pytest
import torch

import slimtorch as st
from slimtorch.data.arrays import ArrayDataset
from slimtorch.search.optimize import optimize, split
from slimtorch.search.score import Scorer, agreement

optimize_mod = importlib.import_module("slimtorch.search.optimize")  # the package re-exports the function


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    train, test = st.data.load("digits")
    model = st.models.build("mlp", widths=(64, 64, 32, 10))
    st.fit(model, train, st.TrainConfig(epochs=4, batch_size=64, lr=0.1, momentum=0.9, quiet=True))
    return model.eval(), train, test


def test_split_is_first_rows_then_last_rows():
    ds = ArrayDataset(torch.arange(10.0)[:, None], torch.arange(10))
    fit, val = split(ds, 3)
    assert fit.y.tolist() == list(range(7)) and val.y.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="val_rows"):
        split(ds, 10)
    with pytest.raises(ValueError, match=r"val_rows: got 1; allowed: 2 \.\. 9"):  # a standard error needs 2 rows
        split(ds, 1)
    with pytest.raises(ValueError, match="10 training rows, which leave 1 for validation; the search needs at least 2"):
        split(ds, None)  # the default tenth
    assert len(split(ArrayDataset(torch.zeros(20, 1), torch.zeros(20, dtype=torch.long)), None)[1]) == 2


def test_agreement_and_unlabeled_scorer():
    assert agreement(torch.tensor([[1.0, 0], [0, 1], [1, 0]]), torch.tensor([[2.0, 1], [1, 0], [0, 1]])) \
        == pytest.approx(1 / 3)
    model = torch.nn.Linear(3, 4)
    data = ArrayDataset(torch.randn(20, 3), torch.full((20,), -1))
    s = Scorer(data, model)
    assert s.metric == "top-1 agreement" and s(model) == pytest.approx(100.0)


def test_optimize_keeps_the_budget_on_test_and_writes_a_valid_recipe(trained, tmp_path):
    from slimtorch.pipeline.recipe import parse_recipe

    model, train, test = trained
    before = [p.clone() for p in model.parameters()]
    res = optimize(model, (train, test), max_accuracy_drop=2.0, budget_minutes=1, batch_size=16)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the original is untouched
    c = res.chosen
    assert c.test >= res.baseline.test - 2.0  # the budget, on data the search never saw
    assert c.val >= res.baseline.val - 2.0
    assert res.best(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert res.trials and all(t.ms and t.baseline_ms > 0 for t in res.trials)
    paths = res.write(tmp_path)
    import yaml

    recipe = parse_recipe(yaml.safe_load(paths["recipe"].read_text()))
    assert recipe.data.train_subset == len(train) - len(train) // 10
    assert (tmp_path / "report.html").read_text().count("<tr>") == len(res.trials) + 2  # header + original
    if c.backend.startswith("onnxruntime"):  # the deployable file of the backend that was timed fastest
        from slimtorch.quantization.backends.onnxruntime import session

        x = test.x[:5]
        got = session(paths["model.onnx"].read_bytes()).run(None, {"input": x.numpy()})[0]
        torch.testing.assert_close(torch.from_numpy(got), res.best(x).detach(), rtol=1e-4, atol=1e-5)
    else:
        assert "model.onnx" not in paths
    assert (tmp_path / "candidates.json").is_file() and (tmp_path / "model" / "model.json").is_file()


def test_ctrl_c_keeps_the_best_so_far(trained, monkeypatch):
    model, train, test = trained
    real, calls = optimize_mod.run_trial, []

    def interrupted_after_one(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(optimize_mod, "run_trial", interrupted_after_one)
    res = optimize(model, (train, test), max_accuracy_drop=100 - 1e-9, budget_minutes=1, batch_size=8)
    assert len(res.trials) == 1 and res.chosen is res.trials[0]
    assert any("interrupted" in n for n in res.notes)


@pytest.mark.parametrize("kwargs,match", [({"objective": "speed"}, "objective: got 'speed'; allowed: latency, size"),
                                          ({"batch_size": 0}, "batch_size"), ({"max_accuracy_drop": -1}, "max_accur"),
                                          ({"budget_minutes": 0}, "budget_minutes")])
def test_bad_arguments_are_one_line(trained, kwargs, match):
    model, train, test = trained
    with pytest.raises(ValueError, match=match):
        optimize(model, (train, test), **kwargs)
    with pytest.raises(ValueError, match="data: give"):
        optimize(model, train)


def test_api_and_lazy_export():
    assert st.optimize is st.api.optimize


def test_unlabeled_search_recovers_label_free_and_writes_a_recipe_that_runs(trained):
    """Without labels the recovery is st.distill's label-free mode (alpha=1), and optimized.yaml's distill stage
    says alpha 1.0: with the labelled default (0.9) `slimtorch run` refused the unlabeled data."""
    from slimtorch.distillation import Distill, distill_report
    from slimtorch.pipeline.recipe import parse_recipe

    model, train, test = trained
    no_labels = [ArrayDataset(d.x, torch.full((len(d),), -1), d.name) for d in (train, test)]
    fit, _ = split(no_labels[0], None)
    cut = st.prune(copy.deepcopy(model), st.ChannelPrune(ratio=0.5), example_inputs=fit.x[:1])
    recovered = optimize_mod._finisher(model, fit, optimize_mod.default_recovery(), 1, False)(cut)
    assert distill_report(recovered)["mode"] == "label_free"
    res = optimize(model, tuple(no_labels), max_accuracy_drop=5.0, budget_minutes=0.3, batch_size=16, int8=False)
    stage = res.recipe["recovery"][0]["distill"]
    assert stage["alpha"] == 1.0 and stage["teacher"] == "baseline"
    recipe = parse_recipe({"model": {"name": "mlp", "kwargs": {"widths": [64, 64, 32, 10]}}, "data": {"name": "digits"},
                           "stages": [{"distill": stage}]})
    assert recipe.stages[0].config.alpha == 1.0
    kd = Distill(model, **{k: v for k, v in stage.items() if k not in ("teacher", "epochs")})
    kd.drive(cut, fit, optimize_mod.default_recovery().replace(quiet=True), st.fit)  # ran: no ConfigError


def test_a_pretrained_recipe_needs_no_train_stage_and_gets_no_note_about_one(trained):
    model, train, test = trained
    kwargs = dict(max_accuracy_drop=2.0, budget_minutes=0.1, batch_size=16, recovery_epochs=0, int8=False)
    spec = {"name": "mlp", "kwargs": {"widths": [64, 64, 32, 10]}}
    bare = optimize(model, (train, test), recipe={"model": spec}, **kwargs)
    assert any("no stage that trains the original" in n for n in bare.notes)
    shipped = {**spec, "kwargs": {**spec["kwargs"], "pretrained": True}}  # the zoo's weights are the original
    assert not any("no stage that trains" in n for n in optimize(model, (train, test), recipe={"model": shipped},
                                                                  **kwargs).notes)
    none = optimize(model, (train, test), recipe={"model": {"name": "mlp", "kwargs": None}}, **kwargs)  # no crash
    assert any("no stage that trains the original" in n for n in none.notes)
