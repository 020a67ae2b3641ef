"""A zoo model that is pretrained by default (minilm) is its own baseline without writing ``pretrained: true``:
``model: {name: minilm, kwargs: {num_layers: 2}}`` + ``distill: {teacher: baseline}`` was refused with "no train
stage comes before it ... (or build a pretrained model: pretrained: true)" although the model built is the
pretrained one."""

import pytest

from slimtorch.config import ConfigError
from slimtorch.pipeline.prepare import check_stages
from slimtorch.recipe import parse_recipe


def _recipe(model):
    return parse_recipe({"model": model, "data": {"name": "text:x.txt"},
                         "stages": [{"distill": {"teacher": "baseline", "alpha": 1.0}}]}, name="r")


@pytest.mark.parametrize("model", [{"name": "minilm", "kwargs": {"num_layers": 2}}, {"name": "minilm"},
                                   {"name": "mnist_cnn", "kwargs": {"pretrained": True}}])
def test_pretrained_models_are_their_own_baseline(model):
    check_stages(_recipe(model))


@pytest.mark.parametrize("model", [{"name": "minilm", "kwargs": {"pretrained": False}}, {"name": "mnist_cnn"}])
def test_fresh_models_need_a_train_stage(model):
    with pytest.raises(ConfigError, match="no train stage comes before it"):
        check_stages(_recipe(model))
