"""Recipe files (YAML or TOML) and ``--set a.b=value`` overrides, on plain dicts before validation."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError

SECTIONS = ("model", "data", "train", "stages", "report")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a float (YAML 1.2 style) instead of the string '1e-3', and refuses a key
    given twice in one mapping (YAML keeps the last without a word: a first ``model:`` was silently dropped)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1}); give each key once",
                    key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*\.?\d*(?:[eE][-+]?\d+)|\d[\d_]*\.\d*|\.\d+(?:[eE][-+]?\d+)?|\.inf|\.nan)$"),
    list("-+0123456789."),
)


def parse_scalar(text: str) -> Any:
    """A ``--set`` value as YAML: ``0.05`` -> float, ``[1, 2]`` -> list, ``none``/``null`` -> None."""
    try:
        return yaml.load(text, Loader=_Loader) if text.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError("--set", f"cannot parse value {text!r}: {str(err).splitlines()[0]}") from None


def _toml() -> Any:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError("recipe", "TOML recipes need Python >= 3.11 or the tomli package; "
                              "or write the recipe in YAML") from None
    return tomllib


def _at(line: int, column: int) -> str:
    return f"line {line}, column {column}"


def _syntax_error(err: Exception, text: str) -> str:
    """``line L, column C: what is wrong`` (1-based) from a YAML or TOML parser error."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark, problem = err.problem_mark, err.problem or "invalid YAML"
        if "'\\t'" in problem:
            problem = "a tab character; YAML indents with spaces only"
        elif problem.startswith("expected <block end>"):
            problem = f"this line's indentation does not line up with the lines above it (YAML: {problem})"
        where = _at(mark.line + 1, mark.column + 1)
        if err.context and err.context_mark is not None and err.context_mark.line != mark.line:
            problem += f" ({err.context} started at {_at(err.context_mark.line + 1, err.context_mark.column + 1)})"
        return f"{where}: {problem}"
    first = (str(err).splitlines() or ["invalid"])[0]
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", first)
    if m:  # tomllib: "Invalid value (at line 3, column 10)"
        return f"{_at(int(m.group(1)), int(m.group(2)))}: {first[:m.start()]}"
    m = re.search(r"\s*\(at end of document\)$", first)
    if m:
        lines = text.rstrip("\n").split("\n")
        return f"{_at(len(lines), len(lines[-1]) + 1)} (end of file): {first[:m.start()]}"
    return f"is not valid {'TOML' if isinstance(err, ValueError) else 'YAML'}: {first}"


def read_recipe_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) recipe into a plain dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("recipe", f"file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a Windows editor's byte-order mark is not TOML
    except UnicodeDecodeError as err:
        raise ConfigError("recipe", f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    toml = _toml() if path.suffix == ".toml" else None
    try:
        raw = toml.loads(text) if toml else yaml.load(text, Loader=_Loader)
    except Exception as err:  # both parsers raise their own error types; one line either way
        raise ConfigError("recipe", f"{path} {_syntax_error(err, text)}") from None
    if not isinstance(raw, dict):
        raise ConfigError("recipe", f"{path} must hold a mapping with sections {', '.join(SECTIONS)}")
    return raw


_PATH_PART = re.compile(r"^([A-Za-z_][\w-]*)((?:\[\d+\])*)$")


def _split_path(path: str) -> list[str | int]:
    """``stages[2].int8.calib_batches`` -> ["stages", 2, "int8", "calib_batches"]."""
    tokens: list[str | int] = []
    for part in path.split("."):
        m = _PATH_PART.match(part)
        if not m:
            raise ConfigError("--set", f"cannot read field path {path!r}; write e.g. train.lr=0.05 or "
                              "stages[1].channel_prune.ratio=0.5")
        tokens.append(m.group(1))
        tokens += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return tokens


def apply_override(raw: dict[str, Any], expr: str) -> None:
    """Apply one ``--set a.b=value`` to the raw recipe dict (in place).

    Paths: ``train.lr``, ``data.name``, ``model.num_classes``, ``stages[2].int8.calib_batches``
    (the stage name may be left out: ``stages[2].calib_batches``), ``stages[1].fit.lr``.
    """
    if "=" not in expr:
        raise ConfigError("--set", f"expected FIELD=VALUE, got {expr!r}")
    path, text = expr.split("=", 1)
    tokens = _split_path(path.strip())
    value = parse_scalar(text)
    if tokens[0] == "stages" and len(tokens) > 1:
        _override_stage(raw, tokens, value, path)
        return
    node = raw
    for i, tok in enumerate(tokens[:-1]):
        if not isinstance(tok, str):
            raise ConfigError(path, "only stages can be indexed")
        child = node.get(tok)
        if child is None:
            child = node[tok] = {}
        if not isinstance(child, dict):
            raise ConfigError(".".join(map(str, tokens[:i + 1])), "is not a mapping; cannot set a field inside it")
        node = child
    node[tokens[-1]] = value


def _override_stage(raw: dict[str, Any], tokens: list, value: Any, path: str) -> None:
    stages = raw.get("stages")
    idx = tokens[1]
    if not isinstance(idx, int):
        raise ConfigError(path, "write stages[N].field (N counts from 0)")
    if not isinstance(stages, list) or not 0 <= idx < len(stages):
        count = len(stages) if isinstance(stages, list) else 0
        raise ConfigError(f"stages[{idx}]", f"no such stage; the recipe has {count} (stages[0]..stages[{count - 1}])")
    entry = stages[idx]
    if isinstance(entry, str):
        entry = stages[idx] = {entry: {}}
    if not isinstance(entry, dict) or not entry:
        raise ConfigError(f"stages[{idx}]", "must be a mapping like {channel_prune: {ratio: 0.5}}")
    stage_name = next(k for k in entry if k != "fit")
    rest = tokens[2:]
    if rest and rest[0] not in (stage_name, "fit") and len(rest) == 1:
        rest = [stage_name, *rest]  # stages[2].calib_batches means the stage's own field
    if len(rest) != 2 or rest[0] not in (stage_name, "fit"):
        raise ConfigError(f"stages[{idx}]", f"is {stage_name!r}; set stages[{idx}].{stage_name}.FIELD "
                          f"or stages[{idx}].fit.FIELD")
    section = entry.get(rest[0])
    if section is None:
        section = entry[rest[0]] = {}
    if not isinstance(section, dict):
        raise ConfigError(f"stages[{idx}].{rest[0]}", "is not a mapping")
    section[rest[1]] = value
