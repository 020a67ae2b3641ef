"""A recipe's int8 stage on a model the static int8 engine cannot run (an op it lacks, a model torch.fx cannot
trace) is refused before any stage runs, naming the stage and pointing at dynamic_int8; it failed only after
training (the train stage's output already written)."""

import pytest

from slimtorch.config import ConfigError
from slimtorch.pipeline.prepare import prepare
from slimtorch.recipe import parse_recipe


def _recipe(model):
    return parse_recipe({"model": model, "data": {"name": "digits", "flatten": True, "train_subset": 64},
                         "train": {"epochs": 1, "quiet": True}, "stages": ["train", {"int8": {}}]}, name="r")


def test_an_op_without_int8_is_refused_before_training():
    with pytest.raises(ConfigError) as err:
        prepare(_recipe({"name": "mlp", "widths": [64, 16, 10], "activation": "gelu"}))
    assert str(err.value) == (
        "stages[1].int8: quantize: op GELU (node 'act1') has no int8 implementation; supported: conv2d, linear, "
        "relu, relu6, add of two tensors, max/avg pool, flatten; allowed: a torch.fx-traceable model of ops the int8 "
        "engine runs, or dynamic_int8 (int8 Linear layers, any model)")


def test_a_supported_model_passes():
    prepared = prepare(_recipe({"name": "mlp", "widths": [64, 16, 10]}))
    assert prepared.model(prepared.example_inputs).shape[-1] == 10
