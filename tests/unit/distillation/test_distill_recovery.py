"""st.distill without labels: label-free KD, cosine for encoders, best epoch kept, early stop, alpha refused."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

import slimtorch as st
from slimtorch.bench.fidelity import classifier_fidelity, encoder_fidelity
from slimtorch.config import ConfigError
from slimtorch.data import ArrayDataset
from slimtorch.distillation import BestEpoch, distill_report
from slimtorch.hooks import State


def _mlp(width, d_in=6, out=4, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, out))


class Encoder(nn.Module):
    """Unit-norm embeddings, like the zoo's minilm."""

    def __init__(self, width, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(6, width), nn.Tanh(), nn.Linear(width, 8))

    def forward(self, x):
        return F.normalize(self.net(x), dim=-1)


def _cfg(**kw):
    return st.TrainConfig(**{"epochs": 6, "batch_size": 32, "lr": 0.01, "optimizer": "adam", "quiet": True, **kw})


def _data(n=400, seed=1):
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(seed))


def test_label_free_kd_raises_agreement_with_teacher():
    teacher, student = _mlp(32, seed=0), _mlp(16, seed=1)
    held_out = _data(300, seed=9)  # never seen by st.distill
    before = classifier_fidelity(student(held_out).detach(), teacher(held_out).detach())["agreement_top1"]
    out = st.distill(student, _data(), st.Distill(teacher, alpha=1.0), _cfg())
    after = classifier_fidelity(out(held_out).detach(), teacher(held_out).detach())["agreement_top1"]
    assert after > before + 0.2 and after > 0.8
    report = distill_report(out)
    assert report["mode"] == "label_free" and report["kind"] == "classifier" and report["loss"] == "kd"
    assert report["val_rows"] == 40 and report["train_rows"] == 360
    assert report["kept_epoch"] >= 1 and len(report["val_fidelity"]) == 7  # epoch 0 + six epochs


def test_unlabeled_dataset_with_minus_one_labels_is_accepted():
    x = _data(120)
    data = ArrayDataset(x, torch.full((120,), -1, dtype=torch.long))
    out = st.distill(_mlp(16, seed=1), data, st.Distill(_mlp(32), alpha=1.0), _cfg(epochs=2))
    assert distill_report(out)["mode"] == "label_free"


def test_encoder_gets_cosine_loss_and_cosine_rises():
    teacher, student = Encoder(32, seed=0), Encoder(8, seed=1)
    held_out = _data(200, seed=9)
    before = encoder_fidelity(student(held_out).detach(), teacher(held_out).detach())["cosine_mean"]
    kd = st.Distill(teacher, alpha=1.0)
    out = st.distill(student, _data(), kd, _cfg(epochs=8))
    after = encoder_fidelity(out(held_out).detach(), teacher(held_out).detach())["cosine_mean"]
    report = distill_report(out)
    assert kd.output_loss == "cosine" and report["kind"] == "encoder" and report["loss"] == "cosine"
    assert "cosine_mean" in report["val_fidelity"][0]
    assert after > before + 0.1


def test_loss_field_overrides_the_automatic_choice():
    kd = st.Distill(Encoder(16), alpha=1.0, loss="mse")
    out = st.distill(Encoder(8, seed=1), _data(100), kd, _cfg(epochs=1))
    assert kd.output_loss == "mse" and distill_report(out)["kind"] == "encoder"


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9])
def test_unlabeled_data_with_alpha_below_one_is_refused_in_one_line(alpha):
    with pytest.raises(ConfigError, match=r"^alpha: got .* no labels") as err:
        st.distill(_mlp(8), _data(50), st.Distill(_mlp(16), alpha=alpha), _cfg(epochs=1))
    assert "\n" not in str(err.value)


def test_best_epoch_keeps_the_better_earlier_checkpoint():
    teacher = _mlp(16, seed=0)
    student = _mlp(16, seed=1)
    tracker = BestEpoch(teacher, _data(64), "classifier", patience=1)
    state = State(model=student)
    tracker.on_fit_start(state)  # epoch 0: an unrelated network
    student.load_state_dict(teacher.state_dict())  # epoch 1: the teacher itself (agreement 1)
    state.epoch = 0
    tracker.on_epoch_end(state)
    good = copy.deepcopy(student.state_dict())
    with torch.no_grad():  # epoch 2: ruined
        for p in student.parameters():
            p.add_(torch.randn_like(p) * 3)
    state.epoch = 1
    tracker.on_epoch_end(state)
    assert tracker.stop_training  # patience 1: one epoch without improvement
    tracker.finalize(state)
    assert tracker.report()["kept_epoch"] == 1
    assert tracker.report()["val_fidelity"][1]["agreement_top1"] == pytest.approx(1.0)
    for k, v in student.state_dict().items():
        assert_close(v, good[k])


def test_recovery_that_only_hurts_returns_the_student_unchanged_and_stops_early():
    teacher = _mlp(16, seed=0)
    student = copy.deepcopy(teacher)
    with torch.no_grad():  # a close copy: already high fidelity at epoch 0
        student[0].weight.add_(0.01 * torch.randn_like(student[0].weight))
    start = copy.deepcopy(student.state_dict())
    kd = st.Distill(teacher, alpha=1.0, patience=2)
    out = st.distill(student, _data(), kd, _cfg(epochs=8, optimizer="sgd", lr=5.0))  # far too large: it only hurts
    report = distill_report(out)
    assert report["kept_epoch"] == 0 and report["stopped_early"]
    assert len(report["val_fidelity"]) == 3  # epoch 0, then two epochs without improvement
    for k, v in out.state_dict().items():
        assert_close(v, start[k])


def test_validation_split_is_seeded_and_disjoint():
    from slimtorch.distillation.validation import holdout

    a_train, a_val = holdout(50, 0.2, seed=3)
    b_train, b_val = holdout(50, 0.2, seed=3)
    assert torch.equal(a_val, b_val) and len(a_val) == 10
    assert set(a_train.tolist()).isdisjoint(a_val.tolist()) and len(a_train) + len(a_val) == 50
    assert not torch.equal(holdout(50, 0.2, seed=4)[1], a_val)


class _Interrupt(st.Hook):
    """Stops the process (as Ctrl-C would) at the end of one epoch, before its checkpoint is written."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_recovery_resumes_to_the_uninterrupted_result(tmp_path):
    teacher, x = _mlp(32, seed=0), _data(200)
    cfg = _cfg(epochs=5)
    whole = st.distill(_mlp(16, seed=1), x, st.Distill(teacher, alpha=1.0, patience=None), cfg)

    def interrupted_fit(model, data, c, hooks=()):
        return st.fit(model, data, c, hooks=[*hooks, _Interrupt(3)])

    out = str(tmp_path / "ckpt")
    with pytest.raises(KeyboardInterrupt):
        st.Distill(teacher, alpha=1.0, patience=None).drive(_mlp(16, seed=1), x, cfg.replace(out=out), interrupted_fit)
    resumed = st.distill(_mlp(16, seed=1), x, st.Distill(teacher, alpha=1.0, patience=None),
                         cfg.replace(out=out, resume=True))
    a, b = distill_report(whole), distill_report(resumed)
    assert a["kept_epoch"] == b["kept_epoch"] and len(b["val_fidelity"]) == 6
    assert [e["kl"] for e in b["val_fidelity"]] == pytest.approx([e["kl"] for e in a["val_fidelity"]], rel=1e-6)
    for k, v in whole.state_dict().items():
        assert_close(resumed.state_dict()[k], v)


class _RecordingDropout(nn.Dropout):
    """A dropout that records the rate it trains with."""

    def __init__(self, p):
        super().__init__(p)
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(self.p)
        return super().forward(x)


@pytest.mark.parametrize("encoder", [True, False])
def test_a_label_free_student_trains_without_dropout_and_gets_its_rate_back(encoder):
    student = Encoder(8, seed=1) if encoder else _mlp(16, seed=1)
    body = student.net if encoder else student
    body.insert(2, _RecordingDropout(0.3))
    teacher = Encoder(16) if encoder else _mlp(32)
    out = st.distill(student, _data(200), st.Distill(teacher, alpha=1.0, patience=None), _cfg(epochs=2))
    drop = next(m for m in out.modules() if isinstance(m, _RecordingDropout))
    assert drop.seen and set(drop.seen) == {0.0}  # encoder or classifier: the teacher's function has no dropout
    assert drop.p == 0.3 and body[2].p == 0.3
    assert distill_report(out)["student_dropout"] == "off"



def test_a_top1_move_within_its_standard_error_is_decided_by_kl():
    from slimtorch.distillation.validation import better

    first = {"agreement_top1": 0.30, "kl": 1.96}
    later = {"agreement_top1": 0.28, "kl": 1.73}  # one crop of 54 fewer agrees, KL much lower: KL decides
    assert better(later, first, "classifier", rows=54) and not better(first, later, "classifier", rows=54)
    assert not better(later, first, "classifier")  # without the row count: top-1 first, as before
    clear = {"agreement_top1": 0.45, "kl": 2.5}  # 15 points up on 54 rows: beyond noise, top-1 decides
    assert better(clear, first, "classifier", rows=54)
    assert better({"agreement_top1": 0.992, "kl": 0.071}, {"agreement_top1": 0.986, "kl": 0.066}, "classifier", 500)
