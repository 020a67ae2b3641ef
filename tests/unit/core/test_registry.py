"""Registry: one name per algorithm, one handler per config class."""

from dataclasses import dataclass

import pytest

from slimtorch import registry
from slimtorch.config import Config, ConfigError


@registry.register("_test_algo", kind="_test")
@dataclass(frozen=True)
class _Algo(Config):
    x: int = 1


@registry.handler(_Algo)
def _apply(model, cfg):
    return model * cfg.x


def test_lookup_by_name_and_handler_dispatch():
    assert registry.config_class("_test_algo") is _Algo
    assert registry.get_handler(_Algo(x=3))(2, _Algo(x=3)) == 6
    assert registry.names("_test") == ["_test_algo"]


def test_duplicate_name_raises():
    with pytest.raises(ValueError, match="already registered by _Algo"):

        @registry.register("_test_algo")
        @dataclass(frozen=True)
        class Other(Config):
            pass


def test_unknown_name_lists_known_ones():
    with pytest.raises(ConfigError, match=r"nope: unknown algorithm; known: .*_test_algo"):
        registry.config_class("nope")


def test_missing_handler_raises():
    @dataclass(frozen=True)
    class Lonely(Config):
        pass

    with pytest.raises(TypeError, match="no handler registered for Lonely"):
        registry.get_handler(Lonely())
