"""One vocabulary for recipes, the CLI and the API: snake_case name -> Config class -> handler.

Every handler has one signature, ``handler(model, cfg, ctx) -> model | Hook``: the model to change
(or the student a hook will train), its config, and a :class:`HandlerContext` carrying whatever
else the caller has (example inputs, calibration data, labelled batches, the run's baseline model).
A handler reads the fields its config needs and raises a one-line error when one is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .config import Config, ConfigError

C = TypeVar("C", bound=type)

_CONFIGS: dict[str, type[Config]] = {}
_HANDLERS: dict[type[Config], Callable] = {}
_KINDS: dict[str, str] = {}


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may use besides the model and its config; every field is optional.

    Which fields a config reads is declared on its class (``needs_labels``, ``needs_calibration``,
    ``needs_baseline``): the pipeline fills only those.
    """

    example_inputs: Any = None  # one batch (tracing, verification)
    calib_data: Any = None  # tensor, dataset (.x/.y) or loader of inputs / (x, y) batches
    data: Any = None  # labelled (x, y) batches, e.g. for gradient-based importance
    loss_fn: Callable | None = None  # the loss those batches are scored with (default: cross entropy)
    baseline: Any = None  # the run's reference model (``teacher: baseline``)


def register(name: str, kind: str = "stage") -> Callable[[C], C]:
    """Class decorator: register a Config class under ``name``; a second use of a name raises."""

    def deco(cls: C) -> C:
        if name in _CONFIGS and _CONFIGS[name] is not cls:
            raise ValueError(f"algorithm name {name!r} is already registered by {_CONFIGS[name].__name__}")
        _CONFIGS[name] = cls
        _KINDS[name] = kind
        cls.registered_name = name
        return cls

    return deco


def handler(config_cls: type[Config]) -> Callable[[Callable], Callable]:
    """Function decorator: the function that applies ``config_cls`` (one handler per class).

    The function is called as ``fn(model, cfg, ctx)`` with ``ctx`` a :class:`HandlerContext`.
    """

    def deco(fn: Callable) -> Callable:
        if config_cls in _HANDLERS and _HANDLERS[config_cls] is not fn:
            raise ValueError(f"{config_cls.__name__} already has a handler")
        _HANDLERS[config_cls] = fn
        return fn

    return deco


def config_class(name: str) -> type[Config]:
    if name not in _CONFIGS:
        raise ConfigError(name, f"unknown algorithm; known: {', '.join(sorted(_CONFIGS))}")
    return _CONFIGS[name]


def get_handler(cfg: Config) -> Callable[[Any, Config, HandlerContext], Any]:
    """The handler of ``cfg``'s class (or of its nearest registered base class)."""
    for cls in type(cfg).__mro__:
        if cls in _HANDLERS:
            return _HANDLERS[cls]
    raise TypeError(f"no handler registered for {type(cfg).__name__}")


def check_kind(cfg: object, kind: str, verb: str) -> None:
    """Raise a one-line TypeError unless ``cfg`` is a registered config of ``kind``, naming the accepted ones."""
    name = getattr(type(cfg), "registered_name", None)
    if isinstance(cfg, Config) and name is not None and _KINDS.get(name) == kind:
        return
    accepted = ", ".join(f"{_CONFIGS[n].__name__} ({n})" for n in names(kind))
    got = type(cfg).__name__
    if isinstance(cfg, Config) and name in _KINDS:
        got += f", a {_KINDS[name]} config" + (": pass it to st.fit(hooks=[...])" if _KINDS[name] == "hook" else "")
    raise TypeError(f"{verb} takes one of: {accepted}; got {got}")


def names(kind: str | None = None) -> list[str]:
    return sorted(n for n, k in _KINDS.items() if kind is None or k == kind)


def kinds() -> list[str]:
    """The kinds of registered algorithms (prune, quantize, hook, transform, ...)."""
    return sorted(set(_KINDS.values()))
