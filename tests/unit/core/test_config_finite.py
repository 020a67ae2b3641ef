"""NaN and inf are refused where they enter a config: they pass every ``<``/``>`` range check."""

import math

import pytest

from slimtorch.config import ConfigError, check_finite_tree, check_range
from slimtorch.training import TrainConfig


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["lr", "momentum", "weight_decay", "clip_norm", "clip_value", "label_smoothing",
                                   "warmup_epochs", "min_lr", "gamma"])
def test_train_config_refuses_non_finite(field, value):
    with pytest.raises(ConfigError, match=rf"^{field}: got -?(nan|inf); allowed: a finite number$"):
        TrainConfig(**{field: value})


def test_non_finite_inside_a_tuple_field_names_the_index():
    with pytest.raises(ConfigError, match=r"^betas\[1\]: got nan; allowed: a finite number$"):
        TrainConfig(optimizer="adam", betas=(0.9, math.nan))


@pytest.mark.parametrize("lo, hi", [(None, None), (0.0, None), (None, 1.0)])
def test_check_range_refuses_nan_whatever_the_bounds(lo, hi):
    with pytest.raises(ConfigError, match="allowed: a finite number"):
        check_range("x", math.nan, lo, hi)


def test_check_finite_tree_paths():
    check_finite_tree("model", {"kwargs": {"widths": [2, 3], "p": 0.5, "name": "a"}})
    with pytest.raises(ConfigError, match=r"^model\.kwargs\.widths\[1\]: got inf"):
        check_finite_tree("model", {"kwargs": {"widths": [2, math.inf]}})


def test_finite_values_still_accepted():
    cfg = TrainConfig(lr=1e-3, momentum=0.9, clip_norm=1.0, weight_decay=0.0)
    assert math.isclose(cfg.lr, 1e-3)
