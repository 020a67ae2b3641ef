"""DistillConfig: registration, validation messages, teacher resolution, building the hook."""

import pytest
import torch
from distill_helpers import mlp

from slimtorch import io, registry
from slimtorch.config import ConfigError
from slimtorch.distillation import Distill, DistillConfig, make_distill, resolve_teacher


def test_registered_as_hook():
    assert registry.config_class("distill") is DistillConfig
    assert "distill" in registry.names("hook")
    assert registry.get_handler(DistillConfig()) is make_distill


def test_round_trip_from_dict():
    data = {
        "teacher": "baseline",
        "temperature": 20.0,
        "alpha": 0.5,
        "epochs": 2,
        "features": {"a.b": "c"},
        "cache": True,
    }
    cfg = DistillConfig.from_dict(data)
    assert cfg.to_dict() == {**DistillConfig().to_dict(), **data}


@pytest.mark.parametrize(
    "data, path, match",
    [
        ({"temperature": 0}, "temperature", r"allowed range \(0"),
        ({"alpha": 1.2}, "alpha", r"allowed range \[0"),
        ({"epochs": 0}, "epochs", "allowed range"),
        ({"loss": "l1"}, "loss", "allowed: 'auto', 'kd'"),
        ({"feature_loss": "gram"}, "feature_loss", "allowed: 'mse'"),
        ({"features": {"a": 3}}, "features.a", "teacher layer name"),
        ({"teacher": 3}, "teacher", "wrong type"),
        ({"tempreature": 3}, "stages.0.distill.tempreature", "unknown field"),
    ],
)
def test_bad_values_name_the_field(data, path, match):
    with pytest.raises(ConfigError, match=match) as err:
        DistillConfig.from_dict(data, path="stages.0.distill" if "tempreature" in data else "")
    assert err.value.path == path


def test_baseline_teacher_is_a_frozen_copy():
    baseline = mlp(16)
    cfg = DistillConfig(teacher="baseline", temperature=2.0, alpha=0.8)
    kd = Distill.from_config(cfg, baseline=baseline)
    assert isinstance(kd, Distill) and kd.cfg is cfg and kd.task_loss_weight == pytest.approx(0.2)
    assert kd.teacher is not baseline and not kd.teacher.training
    assert all(not p.requires_grad for p in kd.teacher.parameters())
    for a, b in zip(kd.teacher.parameters(), baseline.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="baseline"):
        Distill.from_config(DistillConfig(teacher="baseline"))


def test_handler_takes_the_baseline_from_the_context():
    baseline = mlp(16)
    kd = make_distill(mlp(16), DistillConfig(alpha=0.5), registry.HandlerContext(baseline=baseline))
    assert isinstance(kd, Distill) and kd.task_loss_weight == pytest.approx(0.5)
    for a, b in zip(kd.teacher.parameters(), baseline.parameters()):
        assert torch.equal(a, b)


def test_teacher_from_saved_folder(tmp_path):
    model = torch.nn.Linear(4, 3)
    io.save(model, tmp_path / "t", spec={"factory": "torch.nn:Linear", "kwargs": {"in_features": 4, "out_features": 3}})
    with pytest.raises(ValueError, match="names the factory 'torch.nn:Linear'"):
        resolve_teacher(str(tmp_path / "t"))  # a folder naming code to run needs the user's trust
    with io.trusting(True):
        teacher = resolve_teacher(str(tmp_path / "t"))
    x = torch.randn(2, 4)
    torch.testing.assert_close(teacher(x), model(x))


def test_unknown_teacher_lists_the_choices():
    pytest.importorskip("slimtorch.models")
    with pytest.raises(ConfigError, match="allowed: 'baseline'") as err:
        resolve_teacher("no_such_model")
    assert err.value.path == "teacher"


def test_zoo_teacher_needs_pretrained_weights():
    pytest.importorskip("slimtorch.models")
    with pytest.raises(ConfigError, match="no pretrained weights"):
        resolve_teacher("lenet5")


def test_pretrained_zoo_teacher_builds_frozen():
    pytest.importorskip("ccexam")
    teacher = resolve_teacher("mnist_cnn")
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    assert teacher(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
