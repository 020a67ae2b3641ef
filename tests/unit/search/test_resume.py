"""An interrupted search resumes: finished trials are found by hash, not trained again, and the result is the
uninterrupted search's."""

import importlib

import pytest
import torch

import slimtorch as st
from slimtorch.search.journal import Journal, fingerprint

optimize_mod = importlib.import_module("slimtorch.search.optimize")


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    train, test = st.data.load("digits")
    model = st.models.build("mlp", widths=(64, 32, 16, 10))
    st.fit(model, train, st.TrainConfig(epochs=3, batch_size=64, lr=0.1, momentum=0.9, quiet=True))
    return model.eval(), train, test


def _search(trained, tmp_path, **kw):
    model, train, test = trained
    torch.manual_seed(0)
    # size: its cost comes from shapes alone, so the candidates asked depend on no timing
    return optimize_mod.optimize(model, (train, test), objective="size", max_accuracy_drop=3.0, budget_minutes=2,
                                 batch_size=8, resume_dir=tmp_path / "trials", **kw)


@pytest.mark.slow  # three small searches: ~20 s on 2 busy cores
def test_interrupted_search_resumes_without_retraining(trained, tmp_path, monkeypatch):
    real = optimize_mod.run_trial
    calls = []

    def stop_after_two(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(optimize_mod, "run_trial", stop_after_two)
    first = _search(trained, tmp_path)
    assert any("interrupted" in n for n in first.notes) and len(first.trials) == 2
    assert first.rounding["multiple"] == 1  # size: no timed rounding, so both searches ask the same candidates
    monkeypatch.setattr(optimize_mod, "run_trial", real)
    calls.clear()
    second = _search(trained, tmp_path, log=None)
    assert any("resumed: 2 finished trials" in n for n in second.notes)
    done = {t.keep for t in first.trials}
    assert [t.keep for t in second.trials][:2] == [t.keep for t in first.trials]  # asked again, in the same order
    assert {t.keep: t.val for t in second.trials if t.keep in done} == {t.keep: t.val for t in first.trials}

    def no_training(*args, **kwargs):
        raise AssertionError(f"trial {args[1]} trained again")

    monkeypatch.setattr(optimize_mod, "run_trial", no_training)
    third = _search(trained, tmp_path)  # everything finished: nothing is trained
    assert third.chosen.keep == second.chosen.keep
    assert [t.keep for t in third.trials] == [t.keep for t in second.trials]


def test_journal_key_depends_on_weights_and_settings(trained, tmp_path):
    model = trained[0]
    a = Journal(tmp_path, {"model": fingerprint(model), "epochs": 1})
    b = Journal(tmp_path, {"model": fingerprint(model), "epochs": 2})
    other = st.models.build("mlp", widths=(64, 32, 16, 10))
    c = Journal(tmp_path, {"model": fingerprint(other), "epochs": 1})
    assert a.key((8, 4)) == Journal(tmp_path, {"epochs": 1, "model": fingerprint(model)}).key((8, 4))
    assert len({a.key((8, 4)), a.key((8, 5)), b.key((8, 4)), c.key((8, 4))}) == 4
    assert a.get((8, 4), 1) is None  # nothing finished yet
