"""The model zoo: name -> factory; ``build`` validates keyword arguments and records the build spec."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..io import register_zoo, set_spec

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, factory: Callable[..., nn.Module] | None = None):
    """Add a factory to the zoo under ``name`` (usable as a decorator). Its kwargs must be JSON-able.

    Raises:
        ValueError: ``name`` is already taken.
    """
    def add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS and _MODELS[name] is not fn:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return add if factory is None else add(factory)


def names() -> list[str]:
    """Names accepted by :func:`build`."""
    return list(_MODELS)


def signature(name: str) -> dict[str, Any]:
    """Keyword arguments of model ``name`` with their defaults (for ``slimtorch list`` and errors)."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_MODELS)}")
    return {k: p.default for k, p in inspect.signature(_MODELS[name]).parameters.items()}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def _check_type(name: str, key: str, value: Any, default: Any) -> Any:
    """Refuse ``value`` when the default of ``key`` is a bool, int or float and ``value`` is not one (a bool is
    not a number here): the string "false" is truthy, so ``pretrained="false"`` would load the weights. Returns
    the value, a numpy number as the Python one (``num_classes=y.max() + 1``: the spec is saved as JSON)."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and isinstance(default, (int, float)):
        value = value.item()  # num_classes=y.max() + 1 on a tensor of labels: its number
    if isinstance(default, bool):
        ok, allowed, kind = isinstance(value, bool), "true or false", bool
    elif isinstance(default, int):
        ok, allowed, kind = isinstance(value, numbers.Integral) and not isinstance(value, bool), "an integer", int
    elif isinstance(default, float):
        ok, allowed, kind = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number", float
    else:
        return value
    if not ok:
        raise ValueError(f"model {name!r}: {key}: got {value!r} ({type(value).__name__}); allowed: {allowed}")
    if kind is int and value < 1:  # every integer option of the zoo is a size: classes, channels, features, depth
        raise ValueError(f"model {name!r}: {key}: got {value!r}; allowed: an integer >= 1")
    return value if type(value) in (bool, int, float) else kind(value)


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build zoo model ``name`` with ``kwargs`` and record ``{"name", "kwargs"}`` so ``st.save``/``st.load`` work.

    Args:
        name: one of :func:`names` (mlp, lenet300, lenet5, resnet_cifar, mobilenet_v2, mnist_cnn, ...).
        **kwargs: the model's options (see each factory); unknown ones are rejected.

    Returns:
        The model (training mode, CPU).

    Raises:
        ValueError: unknown model name or keyword argument (the message lists the allowed ones), or a value
            of another type than its bool/int/float default, or an integer (a size) below 1.

    Example:
        >>> model = build("mlp", widths=[2, 4, 1], activation="tanh", output_activation="sigmoid")
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_MODELS)}")
    fn = _MODELS[name]
    sig = inspect.signature(fn)
    unknown = sorted(set(kwargs) - set(sig.parameters))
    if unknown:
        allowed = ", ".join(f"{k}={p.default!r}" for k, p in sig.parameters.items())
        raise ValueError(f"model {name!r}: unknown argument(s) {unknown}; allowed: {allowed}")
    kwargs = {key: _check_type(name, key, value, sig.parameters[key].default) for key, value in kwargs.items()}
    bound = sig.bind(**kwargs)
    bound.apply_defaults()  # record every value so a later change of a default never alters a saved model
    model = fn(**bound.arguments)
    return set_spec(model, {"name": name, "kwargs": {k: _jsonable(v) for k, v in bound.arguments.items()}})


register_zoo(build)  # st.load rebuilds zoo models through this, without io importing the zoo
