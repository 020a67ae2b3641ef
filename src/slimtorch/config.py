"""Config base: frozen dataclasses with dict round-trips and validation helpers."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Iterable
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A config field has a wrong name, type or value; the message names the field path."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

    def at(self, prefix: str) -> ConfigError:
        """Return the same error with ``prefix`` put in front of its field path."""
        path = f"{prefix}.{self.path}" if self.path else prefix
        return ConfigError(path, str(self).split(": ", 1)[-1] if self.path else str(self))


def check_choice(field: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed`` (the message lists them)."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(field, f"got {value!r}; allowed: {', '.join(map(repr, allowed))}")


def check_regex(field: str, pattern: str) -> None:
    """Raise ConfigError unless ``pattern`` compiles as a regular expression (the message gives re's reason)."""
    try:
        re.compile(pattern)
    except re.error as err:
        raise ConfigError(field, f"{pattern!r} is not a valid regular expression ({err}); a layer name such as "
                                 f"'features.0' or a regex such as 'features\\.[0-3]\\..*' is allowed") from None


def check_range(field: str, value: float, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> None:
    """Raise ConfigError unless ``value`` is a finite number within the bounds (``None``: unbounded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, f"must be a number, got {type(value).__name__} {value!r}")
    check_finite(field, value)
    bad_lo = lo is not None and (value <= lo if lo_open else value < lo)
    bad_hi = hi is not None and (value >= hi if hi_open else value > hi)
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ConfigError(field, f"got {value!r}; allowed range {left}{lo_s}, {hi_s}{right}")


def check_finite(field: str, value: Any) -> None:
    """Raise ConfigError when ``value`` is a NaN or infinite float (they pass every ``<``/``>`` check)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(field, f"got {value!r}; allowed: a finite number")


def check_finite_tree(field: str, value: Any) -> None:
    """:func:`check_finite` on every float inside nested dicts, lists and tuples (paths like ``a.b[2]``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_finite_tree(_join(field, str(k)), v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite_tree(f"{field}[{i}]", v)
    else:
        check_finite(field, value)


def _type_ok(value: Any, hint: Any) -> bool:
    """A loose runtime check of a value against a field's type hint."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # callables and other exotic hints are checked by the config itself


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every config: frozen, validated, convertible to and from plain dicts.

    A config declares what it needs from its caller as class attributes (a subclass may turn one
    into a property when it depends on a field); the pipeline reads these and knows no algorithm:

    - ``needs_baseline``: reads the run's reference model (``HandlerContext.baseline``).
    - ``needs_labels``: reads labelled batches (``HandlerContext.data``).
    - ``needs_calibration``: reads calibration inputs (``HandlerContext.calib_data``).
    - ``terminal``: its output is final (e.g. an int8 model): only measuring and export may follow.
    - ``recalibrates_bn``: after a prune stage of the pipeline, BatchNorm statistics are re-estimated on the
      training data (a config may say they stay).
    - ``scans_sensitivity``: the measure stage's per-layer int8 sensitivity scan analyses this config (static
      int8; a dynamic int8 config has no activation observer).
    """

    needs_baseline: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = False
    needs_calibration: ClassVar[bool] = False
    terminal: ClassVar[bool] = False
    recalibrates_bn: ClassVar[bool] = True
    scans_sensitivity: ClassVar[bool] = False

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # keep configs hashable and truly frozen
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            if not _type_ok(value, hints.get(f.name, Any)):
                expected = _hint_name(hints[f.name])
                raise ConfigError(f.name, f"wrong type {type(value).__name__} ({value!r}); expected {expected}")
            if not isinstance(value, Config):  # NaN/inf anywhere in a field: no range check would catch them
                check_finite_tree(f.name, value)
        self.validate()

    def validate(self) -> None:
        """Subclasses raise ConfigError for values out of range."""

    def preflight(self) -> None:
        """Check what lies outside the config (a named file or model exists) before a run writes anything.

        Raises:
            ConfigError: naming the field; the default checks nothing.
        """

    def preflight_fit(self, model: Any, inputs: Any) -> None:
        """Check the config against the run's model and a couple of its training inputs, before a run writes anything.

        Args:
            model: the run's initial model (layer widths may change in earlier stages; input and output shapes do not).
            inputs: a couple of training inputs.

        Raises:
            ConfigError: naming the field; the default checks nothing.
        """

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Config):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, path: str = "") -> Config:
        """Build from a dict; unknown keys and bad values raise ConfigError naming the field path."""
        data = dict(data or {})
        names = cls.field_names()
        for key in data:
            if key not in names:
                raise ConfigError(_join(path, key), f"unknown field; allowed: {', '.join(names)}")
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            sub = hints.get(f.name)
            if f.name in data and isinstance(sub, type) and issubclass(sub, Config) and isinstance(data[f.name], dict):
                data[f.name] = sub.from_dict(data[f.name], _join(path, f.name))
        try:
            return cls(**data)
        except ConfigError as err:
            raise (err.at(path) if path else err) from None
        except TypeError as err:  # a required field is missing
            raise ConfigError(path, str(err).split("__init__() ", 1)[-1]) from None

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
