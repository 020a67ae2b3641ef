"""TrainConfig validation: every bad value names its field and what is allowed."""

import pytest

from slimtorch.config import ConfigError
from slimtorch.training import TrainConfig


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "rmsprop"}, r"optimizer: got 'rmsprop'; allowed: 'gd', 'sgd', 'adam', 'adamw'"),
    ({"lr": 0.0}, r"lr: got 0.0; allowed range \(0.0, inf\]"),
    ({"epochs": 0}, r"epochs: got 0; allowed range \[1, inf\]"),
    ({"batch_size": 0}, r"batch_size"),
    ({"momentum": 1.0}, r"momentum: got 1.0; allowed range \[0.0, 1.0\)"),
    ({"nesterov": True}, r"nesterov: needs optimizer 'sgd' or 'gd' with momentum > 0"),
    ({"nesterov": True, "momentum": 0.9, "optimizer": "adam"}, r"nesterov"),
    ({"schedule": "poly"}, r"schedule: got 'poly'; allowed: 'constant', 'step', 'multistep'"),
    ({"warmup_epochs": 3, "epochs": 3}, r"warmup_epochs: got 3; must be below epochs=3"),
    ({"loss": "hinge"}, r"loss: got 'hinge'; allowed: 'cross_entropy', 'bce', 'mse'"),
    ({"clip_norm": -1.0}, r"clip_norm: got -1.0; allowed range \(0.0, inf\]"),
    ({"clip_adaptive": 0}, r"clip_adaptive"),
    ({"milestones": (2, 1)}, r"milestones: must be increasing"),
    ({"grad_accum": 0}, r"grad_accum"),
    ({"label_smoothing": 1.0}, r"label_smoothing"),
    ({"device": "tpu"}, r"device: got 'tpu'; allowed: 'auto', 'cpu', 'cuda'"),
    ({"resume": True}, r"resume: needs out="),
    ({"betas": (0.9,)}, r"betas: needs two values"),
    ({"epochs": "3"}, r"epochs: wrong type str"),
])
def test_bad_values_name_field_and_allowed(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)


def test_unknown_key_from_dict_lists_fields():
    with pytest.raises(ConfigError, match=r"learning_rate: unknown field; allowed: epochs, batch_size"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_dict_round_trip_and_callable_loss_is_json_able():
    cfg = TrainConfig(epochs=2, milestones=[1.0], schedule="multistep")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg

    def my_loss(out, y):
        return (out - y).abs().mean()

    assert TrainConfig(loss=my_loss).to_dict()["loss"] == "my_loss"
