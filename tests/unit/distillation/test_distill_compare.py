"""st.distill with labels: distillation is compared with the student trained alone, and never silently hurts."""

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import slimtorch as st
from slimtorch.data import ArrayDataset
from slimtorch.distillation import distill_report

G = torch.Generator().manual_seed(0)
W = torch.randn(6, 4, generator=G)
X = torch.randn(200, 6, generator=G)
CLEAN = (X @ W).argmax(1)
NOISY = torch.where(torch.rand(200, generator=G) < 0.3, torch.randint(0, 4, (200,), generator=G), CLEAN)


def _linear(weight):
    m = nn.Linear(6, 4, bias=False)
    m.weight.data = weight.T.clone()
    return m


def _student(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))


def _cfg(**kw):
    return st.TrainConfig(**{"epochs": 10, "batch_size": 16, "lr": 0.01, "optimizer": "adam", "quiet": True, **kw})


def test_kd_worse_than_alone_is_detected_and_the_student_alone_returned_with_a_warning():
    wrong = _linear(torch.randn(6, 4, generator=torch.Generator().manual_seed(5)) * 3)  # teaches another rule
    init = _student()
    alone = copy.deepcopy(init)
    st.fit(alone, ArrayDataset(X, CLEAN), _cfg())  # the oracle: st.fit without distillation, same seed
    with pytest.warns(UserWarning, match=r"distillation was not better .* kept the student trained alone") as rec:
        out = st.distill(copy.deepcopy(init), ArrayDataset(X, CLEAN), st.Distill(wrong, alpha=0.9), _cfg())
    assert len([w for w in rec if "distillation" in str(w.message)]) == 1
    assert "\n" not in str(rec[0].message)
    report = distill_report(out)
    assert report["choice"] == "alone" and report["val_accuracy"]["distill"] < report["val_accuracy"]["alone"]
    for k, v in alone.state_dict().items():  # exactly what training alone gives
        assert_close(out.state_dict()[k], v)


def test_kd_better_than_alone_is_kept_without_a_warning():
    teacher = _linear(W * 3)  # the clean rule, while the labels are 30% noise
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may be raised
        out = st.distill(_student(), ArrayDataset(X, NOISY),
                         st.Distill(teacher, alpha=0.9, temperature=2.0, val_fraction=0.25), _cfg())
    report = distill_report(out)
    assert report["mode"] == "compare" and report["choice"] == "distill"
    assert report["val_accuracy"]["distill"] > report["val_accuracy"]["alone"]
    assert report["val_rows"] == 50 and report["train_rows"] == 150


def test_compare_off_trains_with_labels_and_keeps_the_best_epoch():
    out = st.distill(_student(), (X, CLEAN), st.Distill(_linear(W), alpha=0.5, compare=False), _cfg(epochs=3))
    report = distill_report(out)
    assert report["mode"] == "labels" and 0 <= report["kept_epoch"] <= 3


def test_wrong_kd_argument_is_refused():
    with pytest.raises(TypeError, match="st.Distill"):
        st.distill(_student(), X, st.DistillConfig(), _cfg())


def test_alpha_auto_tries_the_grid_and_the_student_alone():
    from slimtorch.distillation.config import AUTO_GRID

    out = st.distill(_student(), ArrayDataset(X, NOISY), st.Distill(_linear(W * 3), alpha="auto", val_fraction=0.25),
                     _cfg(epochs=4))
    report = distill_report(out)
    assert set(report["val_accuracy"]) == {"alone", *(f"alpha={a:g},T={t:g}" for a, t in AUTO_GRID)}
    best = max(report["val_accuracy"].values())
    assert report["val_accuracy"][report["choice"]] == best
    if report["choice"] != "alone":
        assert (report["alpha"], report["temperature"]) in AUTO_GRID


def test_alpha_auto_without_labels_is_label_free_and_refused_by_st_fit():
    out = st.distill(_student(), X, st.Distill(_linear(W), alpha="auto"), _cfg(epochs=1))
    assert distill_report(out)["mode"] == "label_free"
    with pytest.raises(st.ConfigError, match="^alpha: 'auto' is chosen by st.distill"):
        st.fit(_student(), ArrayDataset(X, CLEAN), _cfg(epochs=1), hooks=[st.Distill(_linear(W), alpha="auto")])
    with pytest.raises(st.ConfigError, match=r"^alpha: got 'high'; allowed: a number in \[0, 1\] or 'auto'"):
        st.Distill(_linear(W), alpha="high")


def test_regression_targets_are_compared_by_validation_loss():
    noise = torch.randn(200, generator=torch.Generator().manual_seed(3))
    target = X @ W[:, 0] + noise  # one float per row, noisy
    teacher = nn.Linear(6, 1, bias=False)
    teacher.weight.data = W[:, :1].T.clone()  # the clean rule
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    cfg = _cfg(loss="mse", epochs=3)
    out = st.distill(student, ArrayDataset(X, target), st.Distill(teacher, alpha=0.5, loss="mse"), cfg)
    report = distill_report(out)
    assert set(report["val_loss"]) == {"alone", "distill"} and "val_accuracy" not in report
    assert report["choice"] == min(report["val_loss"], key=report["val_loss"].get)
