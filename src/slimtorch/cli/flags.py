"""Command-line flags generated from a config dataclass: one flag per field, typed from its type hint,
help text from the ``Args:`` section of the class docstring, the default shown in ``--help``.

Bools become ``--x/--no-x``, tuples comma lists (``--milestones 30,60``), ``dict[str, str]`` a
repeatable ``KEY=VALUE`` flag, ``X | None`` an optional X. A value the config rejects becomes one
:class:`~slimtorch.cli.UsageError` line that names the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from collections.abc import Iterable
from typing import Any

from ..config import Config, ConfigError


class FlagSet:
    """The flags generated for one config class; turns parsed arguments back into the config."""

    def __init__(self, cls: type[Config], options: dict[str, str], dests: dict[str, str]):
        self.cls, self.options, self.dests = cls, options, dests

    def values(self, args: argparse.Namespace) -> dict[str, Any]:
        """The field values the flags hold (defaults included), keyed by field name."""
        return {name: getattr(args, dest) for name, dest in self.dests.items()}

    def build(self, args: argparse.Namespace, **fixed: Any) -> Config:
        """The config the flags describe (``fixed`` fields win); a rejected value names its flag.

        Raises:
            UsageError: the config refused a value (one line, ``--flag: what is wrong; what is allowed``).
        """
        try:
            return self.cls(**{**self.values(args), **fixed})
        except ConfigError as err:
            raise self.usage_error(err) from None

    def usage_error(self, err: ConfigError) -> Exception:
        """``err`` with its field path replaced by the flag the user typed (``seed: ...`` -> ``--seed: ...``)."""
        from . import UsageError

        head = re.match(r"\w+", err.path or "")
        if head is None or head.group() not in self.options:
            return UsageError(str(err))
        message = str(err).split(": ", 1)[-1]
        return UsageError(f"{self.options[head.group()]}{err.path[head.end():]}: {message}")


def add_config_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type[Config], *,
                     prefix: str = "", skip: Iterable[str] = (), options: dict[str, str] | None = None,
                     extra: dict[str, dict[str, Any]] | None = None) -> FlagSet:
    """Add one flag per field of ``cls`` to ``parser``.

    Args:
        parser: a parser or argument group.
        cls: the config dataclass.
        prefix: put in front of every ``args`` attribute name (keeps two configs' fields apart).
        skip: fields that get no flag (they keep their default or are passed to ``build``).
        options: field -> flag name, where ``--field-name`` would clash or mislead.
        extra: field -> argparse keywords that refine the generated ones (``choices``, ``metavar``,
            ``default``, ``help``) plus ``aliases``: more flag names for the same field.

    Returns:
        The :class:`FlagSet`, to build the config from the parsed arguments.

    Example:
        >>> flags = add_config_flags(parser, TrainConfig, extra={"lr": {"aliases": ["--eta"]}})  # doctest: +SKIP
        >>> cfg = flags.build(parser.parse_args(["--lr", "0.05"]))  # doctest: +SKIP
    """
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    option_of, dest_of = {}, {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kw = dict((extra or {}).get(f.name, {}))
        names = [(options or {}).get(f.name, "--" + f.name.replace("_", "-")), *kw.pop("aliases", [])]
        default = kw.pop("default", _default(f))
        text = kw.pop("help", docs.get(f.name, "")).replace("%", "%%")
        hint = _strip_optional(hints[f.name])
        if hint is bool:
            action = parser.add_argument(*names, dest=prefix + f.name, default=default,
                                         action=argparse.BooleanOptionalAction, **kw)
            action.help = _with_default(text, "on" if default else "off")  # set after: some Pythons append their own
        else:
            shown = {} if "choices" in kw else {"metavar": f.name.upper()}  # choices show themselves
            kw = {**shown, **_typed(hint, f.name), **kw}
            parser.add_argument(*names, dest=prefix + f.name, default=default, help=_with_default(text, _show(default)),
                                **kw)
        option_of[f.name], dest_of[f.name] = names[0], prefix + f.name
    return FlagSet(cls, option_of, dest_of)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its description in the ``Args:`` section of ``cls``'s docstring (lines joined)."""
    docs: dict[str, str] = {}
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    if "Args:" not in lines:
        return docs
    indent, name = None, None
    for line in lines[lines.index("Args:") + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:  # the next section (Example:) or the end of Args
            break
        entry = re.match(r"(\w+)(?: \(.*?\))?: (.*)", line.strip())
        if depth == indent and entry:
            name = entry.group(1)
            docs[name] = entry.group(2)
        elif name is not None:
            docs[name] += " " + line.strip()
    return docs


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _strip_optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(hint) else hint


def _typed(hint: Any, name: str) -> dict[str, Any]:
    """argparse keywords that parse a value of type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (int, float, str):
        return {"type": hint}
    if hint is Any:
        return {"type": str}
    if origin is tuple:
        item = args[0] if args else str
        return {"type": _comma_list(item), "metavar": f"{item.__name__.upper()},..."}
    if origin is dict or hint is dict:
        return {"action": _KeyValue, "metavar": "KEY=VALUE"}
    raise TypeError(f"{name}: no command-line form for type {hint}; pass skip=({name!r},)")


def _comma_list(item: type) -> Any:
    def parse(text: str) -> tuple:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return tuple(item(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid value {text!r}; expected {item.__name__} values separated by commas, e.g. 1,2") from None

    parse.__name__ = f"comma-separated {item.__name__}"
    return parse


class _KeyValue(argparse.Action):
    """A repeatable ``KEY=VALUE`` flag collected into a dict."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option: str | None = None) -> None:
        key, sep, val = str(value).partition("=")
        if not sep or not key or not val:
            raise argparse.ArgumentError(self, f"got {value!r}; expected {self.metavar}")
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), key: val})


def _show(value: Any) -> str:
    if value is None or value == ():
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _with_default(text: str, shown: str) -> str:
    if "(default" in text:  # the help already says it (a default computed elsewhere)
        return text
    return f"{text.rstrip('.')} (default: {shown})" if text else f"(default: {shown})"
