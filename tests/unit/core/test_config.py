"""Config base: validation, field-path errors, dict round-trips."""

from dataclasses import dataclass

import pytest

from slimtorch.config import Config, ConfigError, check_choice, check_range


@dataclass(frozen=True)
class Inner(Config):
    bits: int = 8

    def validate(self) -> None:
        check_range("bits", self.bits, 2, 8)


@dataclass(frozen=True)
class Outer(Config):
    ratio: float = 0.5
    mode: str = "layer"
    inner: Inner = Inner()
    ignore: tuple = ()

    def validate(self) -> None:
        check_range("ratio", self.ratio, 0.0, 1.0, hi_open=True)
        check_choice("mode", self.mode, ["layer", "global"])


def test_round_trip_through_dict():
    cfg = Outer(ratio=0.25, mode="global", inner=Inner(bits=4), ignore=["fc"])
    again = Outer.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.ignore == ("fc",)
    assert cfg.to_dict() == {"ratio": 0.25, "mode": "global", "inner": {"bits": 4}, "ignore": ["fc"]}


@pytest.mark.parametrize(
    "data, match",
    [
        ({"ratio": 1.5}, r"ratio: got 1.5; allowed range \[0.0, 1.0\)"),
        ({"mode": "all"}, r"mode: got 'all'; allowed: 'layer', 'global'"),
        ({"ratio": "half"}, r"ratio: wrong type str"),
        ({"colour": 1}, r"colour: unknown field; allowed: ratio, mode, inner, ignore"),
        ({"inner": {"bits": 1}}, r"inner.bits: got 1; allowed range \[2, 8\]"),
        ({"inner": {"bitz": 1}}, r"inner.bitz: unknown field"),
    ],
)
def test_bad_values_name_the_field(data, match):
    with pytest.raises(ConfigError, match=match):
        Outer.from_dict(data)


def test_path_prefix_is_added():
    with pytest.raises(ConfigError, match=r"^stages\[2\]\.int8\.mode: got 'x'"):
        Outer.from_dict({"mode": "x"}, path="stages[2].int8")


def test_configs_are_frozen_and_hashable():
    cfg = Outer(ignore=["a"])
    with pytest.raises(AttributeError):
        cfg.ratio = 0.1
    assert hash(cfg) == hash(Outer(ignore=("a",)))


def test_bool_is_not_a_number():
    with pytest.raises(ConfigError, match="ratio: wrong type bool"):
        Outer(ratio=True)
