"""The validation safety margin: standard errors from the validation rows (paired), the pass rule, and the
uniform seeds (exact ChannelPrune widths) that the search tries first."""

import importlib
import math
import warnings

import pytest
import torch

import slimtorch as st
from slimtorch.data.arrays import ArrayDataset
from slimtorch.search.greedy import uniform_keep
from slimtorch.search.margin import binomial_se, keeps, paired_se
from slimtorch.search.score import Scorer
from slimtorch.search.space import space_of, widths

optimize_mod = importlib.import_module("slimtorch.search.optimize")


@pytest.mark.parametrize("ref,cand,n_test,expected", [
    ([1, 1, 1, 1], [1, 1, 1, 1], 0, 100 * math.sqrt(0.25 / 4)),  # identical rows: the floor of one discordant row
    ([1, 1, 1], [1, 1, 1], 3, 100 * math.sqrt(1 / 9 + 1 / 9)),     # 3 rows that agree certify nothing
    ([1, 1, 1, 1], [1, 1, 0, 1], 0, 100 * math.sqrt(0.25 / 4)),  # d = (0,0,1,0): unbiased var 0.25
    ([1, 0, 1, 1], [0, 1, 1, 1], 0, 100 * math.sqrt((2 / 3) / 4)),  # d = (1,-1,0,0): var 2/3, paired
    ([1, 1, 1, 1], [1, 1, 0, 1], 8, 100 * math.sqrt(0.25 / 4 + 0.25 / 8)),  # + the test rows' own error
])
def test_paired_se_table(ref, cand, n_test, expected):
    got = paired_se(torch.tensor(ref, dtype=torch.float64), torch.tensor(cand, dtype=torch.float64), n_test)
    assert got == pytest.approx(expected)


def test_binomial_se_and_bad_rows():
    assert binomial_se(99.0, 2500) == pytest.approx(100 * math.sqrt(2 * 0.99 * 0.01 / 2500))
    # an original right on every row: p is taken one row off (as paired_se's floor), not an error of 0
    assert binomial_se(100.0, 10) == pytest.approx(100 * math.sqrt(2 * 0.9 * 0.1 / 10))
    assert binomial_se(0.0, 3, 3) == pytest.approx(100 * math.sqrt(2 * (1 / 3) * (2 / 3) * (1 / 3 + 1 / 3)))
    with pytest.raises(ValueError, match="paired_se: rows of shape"):
        paired_se(torch.ones(3), torch.ones(4))


@pytest.mark.parametrize("val,se,z,ok", [
    (98.6, 0.0, 1.0, True),    # drop 0.4, no error
    (98.6, 0.2, 1.0, False),   # 0.4 + 0.2 > 0.5
    (98.6, 0.2, 0.0, True),    # safety 0: validation drop alone
    (98.8, 0.3, 1.0, True),    # 0.2 + 0.3 = 0.5
    (98.8, 0.2, 2.0, False),   # 0.2 + 2 x 0.2 > 0.5
])
def test_keeps_rule(val, se, z, ok):
    from types import SimpleNamespace

    assert keeps(SimpleNamespace(val=val, se=se), 99.0, 0.5, z) is ok


def test_scorer_judge_is_the_paired_error_of_the_rows():
    torch.manual_seed(0)
    x, y = torch.randn(200, 5), torch.randint(0, 3, (200,))
    ref, other = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    s = Scorer(ArrayDataset(x, y), ref, n_test=500)
    score, se = s.judge(other)
    with torch.no_grad():
        r, o = (ref(x).argmax(1) == y).double(), (other(x).argmax(1) == y).double()
    assert score == pytest.approx(100 * float(o.mean())) and score == pytest.approx(s(other))
    assert se == pytest.approx(100 * math.sqrt(float((r - o).var()) * (1 / 200 + 1 / 500)))
    assert s.judge(ref)[1] == pytest.approx(100 * math.sqrt((1 / 200) * (1 / 200 + 1 / 500)))  # the floor
    unlabeled = Scorer(ArrayDataset(x, torch.full((200,), -1)), ref)  # agreement with the original
    agree, se_u = unlabeled.judge(other)
    a = (other(x).argmax(1) == ref(x).argmax(1)).double()
    assert agree == pytest.approx(100 * float(a.mean()))
    assert se_u == pytest.approx(100 * math.sqrt(float((1 - a).var()) / 200))


def test_uniform_keep_is_what_channel_prune_leaves():
    model = st.models.build("mlp", widths=(16, 30, 14, 10)).eval()
    x = torch.randn(2, 16)
    space = space_of(model, x)
    for ratio in (0.125, 0.25, 0.5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pruned = st.prune(st.models.build("mlp", widths=(16, 30, 14, 10)).eval(), st.ChannelPrune(ratio=ratio),
                              example_inputs=x)
        assert widths(pruned, space) == uniform_keep(space.full, ratio)


def test_the_mildest_uniform_seed_is_the_first_trial(monkeypatch):
    torch.manual_seed(0)
    train, test = st.data.load("digits")
    model = st.models.build("mlp", widths=(64, 32, 16, 10))
    st.fit(model, train, st.TrainConfig(epochs=2, batch_size=64, lr=0.1, momentum=0.9, quiet=True))
    tried = []
    real = optimize_mod.run_trial

    def record(index, keep, *a, **k):
        tried.append(tuple(keep))
        return real(index, keep, *a, **k)

    monkeypatch.setattr(optimize_mod, "run_trial", record)
    res = optimize_mod.optimize(model.eval(), (train, test), objective="size", max_accuracy_drop=3.0,
                                budget_minutes=0.5, batch_size=8, recovery_epochs=0, int8=False)
    assert tried[0] == uniform_keep(res.baseline.keep, 0.125) == (28, 14)
    assert res.test_kept is not None and "safety" in res.to_dict()
    with pytest.raises(ValueError, match="safety: got -1"):
        optimize_mod.optimize(model, (train, test), safety=-1)


def test_scorer_soft_is_the_mean_probability_of_the_target():
    torch.manual_seed(1)
    x, y = torch.randn(100, 5), torch.randint(0, 3, (100,))
    ref, other = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    with torch.no_grad():
        p_label = other(x).softmax(1).gather(1, y.reshape(-1, 1)).mean()
        p_ref_top1 = other(x).softmax(1).gather(1, ref(x).argmax(1, keepdim=True)).mean()
    assert Scorer(ArrayDataset(x, y), ref).soft(other) == pytest.approx(100 * float(p_label))
    unlabeled = Scorer(ArrayDataset(x, torch.full((100,), -1)), ref)
    assert unlabeled.soft(other) == pytest.approx(100 * float(p_ref_top1))
    # the same argmaxes with less confidence: the 0/1 score is unchanged, the expected score falls
    confident, timid = Scaled(ref, 10.0), Scaled(ref, 0.5)
    assert unlabeled(confident) == unlabeled(timid) == 100.0  # the reference's own argmaxes
    assert unlabeled.soft(timid) < unlabeled.soft(confident) < 100.0
    # a model ending in softmax (or log_softmax) scores as its logits do: a softmax of probabilities squeezed
    # every row towards uniform (1,000 classes: 0.10 points for what its logits score at 0.46)
    wide = torch.nn.Linear(5, 1000)
    many = Scorer(ArrayDataset(x, torch.full((100,), -1)), wide)
    for ending in (torch.nn.Softmax(1), torch.nn.LogSoftmax(1)):
        assert many.soft(torch.nn.Sequential(wide, ending)) == pytest.approx(many.soft(wide), rel=1e-4)
    one_column = Scorer(ArrayDataset(x, torch.rand(100, 1)), torch.nn.Linear(5, 1))  # not argmaxes: the score
    assert one_column.soft(torch.nn.Linear(5, 1)) == one_column(torch.nn.Linear(5, 1))


class Scaled(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, scale: float):
        super().__init__()
        self.inner, self.scale = inner, scale

    def forward(self, x):
        return self.scale * self.inner(x)
