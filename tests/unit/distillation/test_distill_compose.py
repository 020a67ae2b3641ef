"""Distill composed with the other pillars: a channel-pruned student, and QAT in the same fit."""

import copy

import pytest
import torch

import slimtorch as st
from slimtorch.data import ArrayDataset
from slimtorch.distillation import Distill

train = pytest.importorskip("slimtorch.training")
models = pytest.importorskip("slimtorch.models")


@pytest.fixture
def digits28():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(48, 1, 28, 28, generator=g)
    return ArrayDataset(x, torch.randint(0, 10, (48,), generator=g))


def _cfg(**kw):
    return train.TrainConfig(**{"epochs": 1, "batch_size": 16, "lr": 0.05, "momentum": 0.9, "quiet": True, **kw})


def test_channel_pruned_student_gets_adapters_and_teacher_is_untouched(digits28):
    prune_mod = pytest.importorskip("slimtorch.pruning")
    teacher = models.build("lenet5")
    snapshot = copy.deepcopy(teacher.state_dict())
    student = st.prune(copy.deepcopy(teacher), prune_mod.ChannelPrune(ratio=0.5), example_inputs=digits28.x[:2])
    assert student.features[3].out_channels == 8  # half of conv2's 16 channels remain
    kd = Distill(teacher, features={"features.0": "features.0", "features.3": "features.3"})
    before = copy.deepcopy(student.state_dict())
    train.fit(student, digits28, _cfg(), hooks=[kd])
    assert kd.adapter_specs == {
        "features.0": {"kind": "conv2d", "in": 3, "out": 6},
        "features.3": {"kind": "conv2d", "in": 8, "out": 16},
    }
    assert tuple(kd.adapters["features__3"].weight.shape) == (16, 8, 1, 1)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v.cpu(), snapshot[k]), k  # fit may have moved the teacher to a GPU
    assert any(not torch.equal(v.cpu(), before[k]) for k, v in student.state_dict().items())


@pytest.mark.parametrize("distill_first", [True, False])
def test_distill_together_with_qat(digits28, distill_first):
    quant = pytest.importorskip("slimtorch.quantization")
    qat_cls = getattr(quant, "QAT", None) or pytest.importorskip("slimtorch.quantization.qat").QAT
    teacher = models.build("lenet5")
    snapshot = copy.deepcopy(teacher.state_dict())
    student = models.build("lenet5")
    kd = Distill(teacher, temperature=4.0, alpha=0.9, features={"features.3": "features.3"})
    qat = qat_cls()
    hooks = [kd, qat] if distill_first else [qat, kd]
    history = train.fit(student, digits28, _cfg(epochs=2), hooks=hooks)
    assert history.model is not student  # QAT returned the converted int8 model
    assert kd.teacher_calls == 2 * 3
    assert kd.adapter_specs["features.3"]["kind"] == "identity"
    for k, v in teacher.state_dict().items():
        assert torch.equal(v.cpu(), snapshot[k]), k  # fit may have moved the teacher to a GPU
    out = history.model(digits28.x[:4])
    assert out.shape == (4, 10) and torch.isfinite(out).all()
