"""Recipes: a YAML or TOML file naming a model, data, a training config and a list of stages.

Every stage is a registered algorithm name and its fields are that algorithm's config fields, so a
recipe, ``slimtorch list`` and the Python API share one vocabulary::

    model: {name: lenet5, num_classes: 10}        # or {factory: "pkg.module:fn", kwargs: {...}}
    data:  {name: mnist, batch_size: 128}
    train: {epochs: 3, optimizer: sgd, lr: 0.1}
    stages:
      - train: {}
      - channel_prune: {ratio: 0.5}
      - distill: {teacher: baseline, epochs: 2}
        fit: {lr: 0.02}                            # training overrides for a stage that trains
      - int8: {calib_batches: 16}
      - export_onnx
      - measure

Parsing checks everything that can be checked without data or models and raises
:class:`~slimtorch.config.ConfigError` whose message starts with the field path
(``stages[2].int8.calib_batches: ...``). A ``factory:`` entry imports user code: by design.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError
from ..registry import config_class, names
from .overrides import apply_override, parse_scalar, read_recipe_file

SECTIONS = ("model", "data", "train", "stages", "report")
__all__ = ["DataConfig", "Recipe", "ReportConfig", "Stage", "apply_override", "load_recipe", "parse_recipe",
           "parse_scalar", "read_recipe_file"]
_TRAINING_KINDS = ("train", "hook")
_SHARED_WITH_TRAIN = ("epochs",)


@dataclasses.dataclass(frozen=True)
class DataConfig(Config):
    """The ``data:`` section: a dataset name for ``st.data.load`` plus loading options."""

    name: str
    batch_size: int | None = None  # default batch size of every training stage
    train_subset: int | None = None  # keep the first N training rows (quick runs)
    test_subset: int | None = None
    normalize: bool = True
    flatten: bool = False
    seed: int = 0
    options: dict = dataclasses.field(default_factory=dict)  # extra keyword arguments of st.data.load

    def validate(self) -> None:
        for f in ("batch_size", "train_subset", "test_subset"):
            value = getattr(self, f)
            if value is not None and value < 1:
                raise ConfigError(f, f"got {value!r}; allowed: an integer >= 1")


@dataclasses.dataclass(frozen=True)
class ReportConfig(Config):
    """The ``report:`` section."""

    out: str | None = None  # run directory (``--out`` wins); default runs/<recipe name>
    title: str = "slimtorch run"
    plots: bool = True  # matplotlib plots in report.md / report.html (off: tables only, faster)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One validated stage: its registered name, config, kind and effective training config."""

    index: int
    name: str
    kind: str
    config: Config
    fit: dict  # overrides of the training config given in the recipe (``fit:``)
    train: Config | None  # the TrainConfig this stage trains with (None for stages that do not train)

    @property
    def path(self) -> str:
        return f"stages[{self.index}].{self.name}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.name: self.config.to_dict()}
        if self.fit:
            out["fit"] = dict(self.fit)
        return out


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A parsed, validated recipe. ``Recipe.from_dict(r.to_dict()) == r``."""

    model: dict
    data: DataConfig
    train: Config
    stages: tuple[Stage, ...]
    report: ReportConfig
    name: str = "recipe"

    def to_dict(self) -> dict[str, Any]:
        return {"model": dict(self.model), "data": self.data.to_dict(), "train": self.train.to_dict(),
                "stages": [s.to_dict() for s in self.stages], "report": self.report.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], name: str = "recipe") -> Recipe:
        return parse_recipe(raw, name=name)


# --------------------------------------------------------------------------- parsing


def import_algorithms() -> None:
    """Import the pillars so that every algorithm and stage is registered."""
    import importlib

    for mod in ("training", "pruning", "quantization", "distillation", "compression", "pipeline.stages"):
        try:
            importlib.import_module(f"slimtorch.{mod}")
        except ModuleNotFoundError as err:  # a pillar that is not installed simply adds no stages
            if err.name != f"slimtorch.{mod}":
                raise


def train_config_class() -> type[Config]:
    """The TrainConfig class: the ``train:`` section and every train stage."""
    from ..training import TrainConfig

    return TrainConfig


def stage_kind(name: str) -> str:
    """The kind under which ``name`` is registered (train, prune, quantize, hook, transform, ...)."""
    if name == "train":
        return "train"
    for kind in ("prune", "quantize", "hook", "transform", "export", "measure"):
        if name in names(kind):
            return kind
    return "stage"


def parse_recipe(raw: dict[str, Any], name: str = "recipe") -> Recipe:
    """Validate a raw recipe dict and build its configs.

    Raises:
        ConfigError: the first problem found, with its field path.
    """
    import_algorithms()
    if not isinstance(raw, dict):
        raise ConfigError("recipe", f"must be a mapping with sections {', '.join(SECTIONS)}")
    for key in raw:
        if key not in SECTIONS:
            raise ConfigError(str(key), f"unknown section{close_match(key, SECTIONS)}; allowed: {', '.join(SECTIONS)}")
    for key in ("model", "data", "stages"):
        if raw.get(key) is None:
            inside = [k for k, v in raw.items() if isinstance(v, dict) and key in v]
            if inside:  # TOML: keys after a [table] header belong to that table
                raise ConfigError(key, f"missing at the top level; it is inside [{inside[0]}] (in TOML, keys after a "
                                       f"[table] header belong to it: put {key} = ... before the first [table])")
            raise ConfigError(key, "missing; a recipe needs model, data and stages")
    model = parse_model(raw["model"])
    data = DataConfig.from_dict(_mapping(raw["data"], "data"), "data")
    train_cls = train_config_class()
    train_raw = _mapping(raw.get("train"), "train")
    if data.batch_size is not None:
        train_raw = {"batch_size": data.batch_size, **train_raw}
    train = train_cls.from_dict(train_raw, "train")
    stages_raw = raw["stages"]
    if not isinstance(stages_raw, list) or not stages_raw:
        raise ConfigError("stages", "must be a non-empty list like [{train: {}}, {channel_prune: {ratio: 0.5}}]")
    stages = tuple(_parse_stage(i, entry, train) for i, entry in enumerate(stages_raw))
    report = ReportConfig.from_dict(_mapping(raw.get("report"), "report"), "report")
    return Recipe(model=model, data=data, train=train, stages=stages, report=report, name=name)


def parse_model(spec: Any) -> dict[str, Any]:
    """Check a model spec and return it in the ``{name|factory, kwargs}`` form used by ``st.save``."""
    if not isinstance(spec, dict):
        raise ConfigError("model", "must be a mapping like {name: lenet5} or {factory: 'pkg.mod:fn', kwargs: {}}")
    if ("name" in spec) == ("factory" in spec):
        raise ConfigError("model", "give exactly one of 'name' (a zoo model) or 'factory' ('package.module:function')")
    if "factory" in spec:
        for key in spec:
            if key not in ("factory", "kwargs"):
                raise ConfigError(f"model.{key}", "unknown field; allowed with a factory: factory, kwargs")
        kwargs = _mapping(spec.get("kwargs"), "model.kwargs")
        if not isinstance(spec["factory"], str):
            raise ConfigError("model.factory", "must be a string 'package.module:function'")
        if spec["factory"].count(":") != 1 or not all(spec["factory"].split(":")):
            raise ConfigError("model.factory", f"got {spec['factory']!r}; must look like 'package.module:function'")
        return {"factory": spec["factory"], "kwargs": kwargs}
    from .. import models

    known = models.names()
    if spec["name"] not in known:
        raise ConfigError("model.name", f"unknown model {spec['name']!r}{close_match(spec['name'], known)}; allowed: "
                                        f"{', '.join(known)}")
    if isinstance(spec.get("kwargs"), dict):  # arguments beside kwargs would be silently dropped
        for key in spec:
            if key not in ("name", "kwargs"):
                raise ConfigError(f"model.{key}", "beside kwargs; allowed: name, kwargs (put every model argument "
                                                  "inside kwargs)")
    kwargs = spec["kwargs"] if isinstance(spec.get("kwargs"), dict) else {k: v for k, v in spec.items() if k != "name"}
    return {"name": spec["name"], "kwargs": dict(kwargs)}


def close_match(word: Any, allowed: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss of one of ``allowed`` (case aside), else ""."""
    import difflib

    lower = {a.lower(): a for a in allowed}
    match = difflib.get_close_matches(str(word).lower(), list(lower), n=1, cutoff=0.6)
    return f" (did you mean {lower[match[0]]!r}?)" if match else ""


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(path, f"must be a mapping of fields, got {type(value).__name__} {value!r}")
    return dict(value)


def _parse_stage(i: int, entry: Any, train: Config) -> Stage:
    where = f"stages[{i}]"
    if isinstance(entry, str):
        entry = {entry: {}}
    if not isinstance(entry, dict) or not entry:
        raise ConfigError(where, "must be a stage name or a mapping like {channel_prune: {ratio: 0.5}}")
    keys = [k for k in entry if k != "fit"]
    known = sorted(set(names()) | {"train"})
    stages = [k for k in keys if k in known]
    if len(stages) == 1 and len(keys) > 1:  # {channel_prune: {...}, fitt: {...}}: a typo beside the stage
        odd = next(k for k in keys if k not in known)
        raise ConfigError(f"{where}.{odd}", f"unknown key beside stage {stages[0]!r}{close_match(odd, ['fit'])}; "
                                            "allowed: fit")
    if len(keys) != 1:
        raise ConfigError(where, f"must name exactly one stage (plus optional 'fit'), got keys {list(entry)}")
    name = str(keys[0])
    if name not in known:
        raise ConfigError(where, f"unknown stage {name!r}{close_match(name, known)}; allowed: {', '.join(known)}")
    kind = stage_kind(name)
    fields = _mapping(entry[name], f"{where}.{name}")
    fit = _mapping(entry.get("fit"), f"{where}.fit")
    path = f"{where}.{name}"
    train_dict = train.to_dict()
    if kind == "train":
        if fit:
            raise ConfigError(f"{where}.fit", "a train stage takes its training fields directly")
        cfg = type(train).from_dict({**train_dict, **fields}, path)
        return Stage(i, name, kind, cfg, {}, cfg)
    cfg = config_class(name).from_dict(fields, path)
    if kind not in _TRAINING_KINDS:
        if fit:
            raise ConfigError(f"{where}.fit", f"{name!r} does not train; 'fit' is allowed on train and hook stages")
        return Stage(i, name, kind, cfg, {}, None)
    # A hook stage trains with the recipe's train config, overridden by its own ``epochs`` field when
    # it has one (distill.epochs) and then by its explicit 'fit:' mapping. Other same-named fields
    # (distill.loss) mean something else, so only epochs is shared.
    shared = {f: getattr(cfg, f) for f in _SHARED_WITH_TRAIN if getattr(cfg, f, None) is not None}
    unknown = [k for k in fit if k not in train_dict]
    if unknown:
        raise ConfigError(f"{where}.fit.{unknown[0]}", f"unknown field; allowed: {', '.join(train_dict)}")
    stage_train = type(train).from_dict({**train_dict, **shared, **fit}, f"{where}.fit")
    return Stage(i, name, kind, cfg, fit, stage_train)


def load_recipe(path: str | os.PathLike, overrides: Iterable[str] = ()) -> Recipe:
    """Read, override (``--set``) and validate a recipe file.

    Args:
        path: a .yaml/.yml or .toml recipe.
        overrides: ``"a.b=value"`` strings, values parsed as YAML scalars.

    Returns:
        The validated :class:`Recipe`.

    Raises:
        ConfigError: a missing file or any bad field, with its path.

    Example:
        >>> r = load_recipe("recipes/mnist-demo.yaml", ["train.epochs=1"])  # doctest: +SKIP
    """
    raw = read_recipe_file(path)
    for expr in overrides:
        apply_override(raw, expr)
    return parse_recipe(raw, name=Path(path).stem)


RENAMED = {"DataSpec": "DataConfig"}  # old name -> new (settings are <Name>Config); the old ones go next release


def renamed(module: str, name: str) -> Any:
    """What an old name of ``RENAMED`` means now, with a DeprecationWarning at the importer's line
    (a module's ``__getattr__`` calls this); AttributeError for any other missing name."""
    if name not in RENAMED:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(f"{name} is renamed {RENAMED[name]}; the old name goes in the next release",
                  DeprecationWarning, stacklevel=3)
    return globals()[RENAMED[name]]


def __getattr__(name: str) -> Any:
    return renamed(__name__, name)
