"""TrainConfig fields that only some optimizers, schedules or losses read, and the set ones a config's own choice
ignores: ``st.fit`` warns about them, ``slimtorch train`` refuses them (a recipe stage may inherit a base
``train:`` value its own optimizer ignores, so the library warns rather than refuses)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

from .config import TrainConfig
from .readers import READ_BY


class Ignored(NamedTuple):
    """One set-but-ignored setting: ``name=value`` is not read by ``by=chosen``, only by ``readers``."""

    name: str
    value: Any
    by: str
    chosen: Any
    readers: tuple[str, ...]


def ignored_settings(values: Mapping[str, Any]) -> list[Ignored]:
    """The settings in ``values`` (TrainConfig field -> value) that differ from the field's default but that
    the chosen optimizer, schedule or loss never reads; fields missing from ``values`` are left out.

    Example:
        >>> [s.name for s in ignored_settings({"optimizer": "adam", "momentum": 0.9})]
        ['momentum']
    """
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    found = []
    for name, (by, readers) in READ_BY.items():
        if name not in values or by not in values or _same(values[name], defaults[name]):
            continue
        chosen = values[by]
        if not (isinstance(chosen, str) and chosen in readers):  # a callable loss reads no label smoothing
            found.append(Ignored(name, values[name], by, chosen, readers))
    return found


def warn_ignored(cfg: Any, stacklevel: int = 3) -> None:
    """One UserWarning naming every setting of ``cfg`` (a TrainConfig) its optimizer, schedule or loss ignores;
    nothing when there is none."""
    found = ignored_settings({f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})
    if found:
        warnings.warn("TrainConfig: " + "; ".join(_describe(s) for s in found), UserWarning, stacklevel=stacklevel)


def _describe(s: Ignored) -> str:
    chosen = s.chosen if isinstance(s.chosen, str) else getattr(s.chosen, "__name__", type(s.chosen).__name__)
    value = list(s.value) if isinstance(s.value, (tuple, list)) else s.value
    return (f"{s.name}={value} is ignored by {s.by} {chosen!r} ({s.name} is read by {s.by} "
            f"{'/'.join(s.readers)} only)")


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, (tuple, list)) and isinstance(default, (tuple, list)):
        return tuple(value) == tuple(default)
    return value == default
