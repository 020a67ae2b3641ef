"""Fidelity without labels: agreement, KL, cosine and nearest neighbours against hand-made cases and torch."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import slimtorch as st
from slimtorch.bench.fidelity import classifier_fidelity, encoder_fidelity, fidelity, kind_of
from slimtorch.data import ArrayDataset


def test_classifier_agreement_and_kl_against_torch():
    ref = torch.tensor([[3.0, 0, 0, 0, 0, 0], [0, 2.0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0]])
    out = ref.clone()
    out[1] = torch.tensor([0, 1.0, 2.0, 0, 0, 0])  # top-1 differs, reference's class still in top 5
    out[2] = torch.tensor([5.0, 4, 3, 2, 1, 0])  # reference's class (2) third: inside the top 5
    out[3] = torch.tensor([0.0, 5, 4, 3, 2, 1])  # reference's class (0) last of 6: outside the top 5
    r = classifier_fidelity(out, ref)
    assert r["agreement_top1"] == pytest.approx(0.25) and r["agreement_top5"] == pytest.approx(0.75)
    want = F.kl_div(F.log_softmax(out, 1), F.log_softmax(ref, 1), log_target=True, reduction="batchmean")
    assert r["kl"] == pytest.approx(float(want), rel=1e-5)


def test_encoder_cosines_and_nearest_neighbours():
    ref = F.normalize(torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0, 1.0, 0], [0, 0.9, 0.2]]), dim=1)
    out = ref.clone()
    out[3] = F.normalize(torch.tensor([1.0, 0.05, 0.0]), dim=0)  # row 3 moves next to rows 0/1
    r = encoder_fidelity(out, ref)
    cos = (out * ref).sum(1)
    assert r["cosine_mean"] == pytest.approx(float(cos.mean())) and r["cosine_min"] == pytest.approx(float(cos[3]))
    # reference neighbours (0->1, 1->0, 2->3, 3->2); the model's: 0->3, 1->3, 2->1, 3->0: none agree
    assert r["nn_agreement"] == pytest.approx(0.0)
    out[3] = F.normalize(torch.tensor([0.3, 1.0, 0.0]), dim=0)  # moved, but still nearest to row 2
    assert encoder_fidelity(out, ref)["nn_agreement"] == pytest.approx(1.0)
    out = ref.clone()
    out[1] = F.normalize(torch.tensor([0.3, 1.0, 0.0]), dim=0)  # 1 -> nearest to row 2; 0, 2, 3 keep theirs
    assert encoder_fidelity(out, ref)["nn_agreement"] == pytest.approx(0.75)


def test_kind_auto():
    assert kind_of(F.normalize(torch.randn(5, 8), dim=1)) == "encoder"
    assert kind_of(torch.randn(5, 8) * 3) == "classifier"


def test_measure_with_reference_on_unlabeled_data():
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(6, 10)).eval()
    noisy = nn.Sequential(nn.Linear(6, 10)).eval()
    noisy.load_state_dict(ref.state_dict())
    with torch.no_grad():
        noisy[0].weight.add_(0.3 * torch.randn_like(noisy[0].weight))
    x = torch.randn(40, 6)
    data = ArrayDataset(x, torch.full((40,), -1), "unlabeled")
    same = st.measure(ref, eval_data=data, reference=ref, latency=False)
    assert same["agreement_top1"] == pytest.approx(1.0) and same["kl"] == pytest.approx(0.0, abs=1e-6)
    assert same["accuracy"] is None  # no labels: no accuracy, no crash on y = -1
    rep = st.measure(noisy, eval_data=data, reference=ref, latency=False)
    want = float((noisy(x).argmax(1) == ref(x).argmax(1)).float().mean())
    assert rep["agreement_top1"] == pytest.approx(want) and "top-1 agreement" in str(rep)


def test_fidelity_refuses_mismatched_outputs():
    data = ArrayDataset(torch.randn(4, 3), torch.full((4,), -1), "u")
    with pytest.raises(ValueError, match="outputs of shape"):
        fidelity(nn.Linear(3, 2), nn.Linear(3, 5), data)
    with pytest.raises(ValueError, match="kind must be one of"):
        fidelity(nn.Linear(3, 2), nn.Linear(3, 2), data, kind="regressor")
