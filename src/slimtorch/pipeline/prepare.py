"""Everything a run checks before it writes a single file: data, model, one forward pass, stages.

Each problem is a :class:`~slimtorch.config.ConfigError` naming the recipe field, so a bad recipe
costs one line and leaves the run directory untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import ConfigError, check_finite_tree
from ..registry import names
from .stages import APPLIERS


@dataclass
class Prepared:
    """Data and the initial model, checked against each other."""

    train_data: Any
    test_data: Any
    model: nn.Module
    example_inputs: torch.Tensor


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


KEEP_ALL = ", or test_fraction=0 to keep all in train"  # a loader's advice for too few rows to split
RUN_TESTS = "every run ends in a measure stage on the test rows"


def load_data(spec: Any, needs_test: str = "") -> tuple[Any, Any]:
    """``st.data.load`` for the ``data:`` section; bad names, files and options name their field.

    ``needs_test``: why the caller measures on the test rows (a loader's advice to keep every row in train is then
    wrong: it is replaced by why); "" for a caller that only trains.
    """
    from .. import data

    name = spec.name
    prefix, sep, path = name.partition(":")
    if sep and prefix in ("npz", "csv", "text", "images"):
        folder = prefix == "images"
        if not path:  # Path("") is the current folder: "images:" would read whatever photos are here
            example = "my_photos/" if folder else f"my_data.{'txt' if prefix == 'text' else prefix}"
            raise ConfigError("data.name", f"{name!r} names no {'folder' if folder else 'file'}; allowed: "
                                           f"{prefix}:{'DIR' if folder else 'FILE'}, e.g. {prefix}:{example}")
        if not (Path(path).is_dir() if folder else Path(path).is_file()):
            if not Path(path).exists():
                where = "" if Path(path).is_absolute() else f" (relative to the current folder, {Path.cwd()})"
                raise ConfigError("data.name", f"{'folder' if folder else 'file'} not found: {path}{where}")
            raise ConfigError("data.name", f"{name}: {path} is a {'file' if folder else 'folder'}; allowed: "
                                           f"{'a folder of .jpg/.png photos' if folder else 'a file'}")
    elif name not in data.names():
        from .recipe import close_match

        raise ConfigError("data.name", f"unknown dataset {name!r}{close_match(name, data.names())}; allowed: "
                                       f"{', '.join(data.names())}")
    # the CLI has no flag of its own for these fields: `--data-option normalize=false` sets them as options
    fields = {"normalize": spec.normalize, "flatten": spec.flatten, "seed": spec.seed, **spec.options}
    try:
        train, test = data.load(name, **fields)
    except (ValueError, TypeError, OSError, ImportError) as err:
        text = str(err).splitlines()[0] if str(err) else _first_line(err)
        named = [k for k in spec.options if f" {k}=" in f" {text}"]  # "got size='abc'": that option's value
        field = f"data.options.{named[0]}" if len(named) == 1 else "data.options" if "option" in text else "data"
        if needs_test and KEEP_ALL in text:
            text = text.replace(KEEP_ALL, f" ({needs_test}: test_fraction=0 would leave none)")
        raise ConfigError(field, text) from None
    if spec.train_subset:
        train = train.subset(spec.train_subset)
    if spec.test_subset:
        test = test.subset(spec.test_subset)
    return train, test


def check_test_rows(spec: Any, test: Any, why: str) -> None:
    """Data that leaves no test rows (``test_fraction: 0``) is refused before any stage runs: ``why`` they are
    needed (the measure stage's evaluation said "the dataset is empty" after every other stage had run)."""
    if len(test) == 0:
        given = spec.options.get("test_fraction")
        raise ConfigError("data.options.test_fraction" if given is not None else "data",
                          f"{spec.name} leaves no test rows{'' if given is None else f' (test_fraction={given})'}; "
                          f"{why}; allowed: test_fraction in (0, 1) and enough rows for both splits")


def build_model(spec: dict[str, Any], seed: int) -> nn.Module:
    """Build the recipe's model (seeded, so a rerun starts from the same weights)."""
    from .. import models
    from ..io import build_from_spec, import_factory

    if "factory" in spec:  # only reached when the user trusts it (see runner.run)
        try:
            import_factory(spec["factory"])
        except ValueError as err:
            raise ConfigError("model.factory", str(err)) from None
    torch.manual_seed(seed)
    try:
        if "name" in spec:  # the zoo keeps pretrained=True (build_from_spec drops it: saved weights win there)
            return models.build(spec["name"], **spec["kwargs"])
        return build_from_spec(spec)
    except (ValueError, TypeError) as err:
        where = "model.kwargs" if "factory" in spec else "model"
        raise ConfigError(where, str(err).splitlines()[0]) from None
    except Exception as err:  # user factories may fail in any way; say where and why in one line
        raise ConfigError("model", f"building the model failed: {_first_line(err)}") from None


def check_device(name: str, field: str = "train.device") -> None:
    """The training device exists here (``cuda`` without a GPU is refused before anything runs)."""
    from ..training.distributed import pick_device

    try:
        pick_device(name)
    except (ValueError, RuntimeError) as err:
        raise ConfigError(field, str(err).split(": ", 1)[-1]) from None


def check_labels(data: Any, loss: Any, data_name: str) -> None:
    """Every label suits the loss (class ids >= 0 for cross_entropy, finite targets, ...)."""
    from ..bench.fidelity import unlabeled
    from ..data.labels import check_labels as check

    y = getattr(data, "y", None)
    if y is not None and not unlabeled(data):  # unlabeled data: check_label_free says which stages may use it
        try:
            check(y, loss, name=f"data {data_name!r} ({getattr(data, 'name', 'split')})")
        except ValueError as err:
            raise ConfigError("data", str(err)) from None


def check_label_free(recipe: Any, data: Any) -> None:
    """Data without labels (all -1: ``images:DIR`` without subfolders, ``text:FILE``) reaches only stages that
    train without labels (``label_free``: distill with alpha 1) or do not train at all."""
    from ..bench.fidelity import unlabeled

    if not unlabeled(data):
        return
    for stage in recipe.stages:
        if stage.train is not None and not getattr(stage.config, "label_free", False):
            raise ConfigError(stage.path,
                              f"trains on labels, but data {recipe.data.name!r} has none (all -1); on unlabeled "
                              "data only label-free stages train (distill with alpha: 1)")


def check_forward(model: nn.Module, train: Any, data_name: str, loss: Any = "cross_entropy",
                  test: Any = None) -> None:
    """Labels vs the loss, one forward pass on two training rows, output width vs the number of classes."""
    for split in (train, test) if test is not None else (train,):
        check_labels(split, loss, data_name)
    x = train.x[:2]
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as err:  # any failure here means model and data do not fit together
        raise ConfigError("model", f"rejects input of shape {list(x.shape[1:])} per sample from data "
                          f"{data_name!r} ({_first_line(err)}); check the model's kwargs or data.flatten") from None
    finally:
        model.train()
    ys = [d.y for d in (train, test) if d is not None and getattr(d, "y", None) is not None]
    if isinstance(out, torch.Tensor) and out.ndim == 2 and loss == "cross_entropy" and ys:
        from ..data.labels import num_classes

        classes = max((num_classes(y) or 0) for y in ys)
        if out.shape[1] < classes:
            raise ConfigError("model", f"gives {out.shape[1]} outputs per sample but data {data_name!r} has "
                              f"{classes} classes; set the model's number of classes to {classes}")
    if ys:
        from ..data.labels import check_outputs

        try:
            check_outputs(out, ys[0][:2], loss, name=f"data {data_name!r}")
        except ValueError as err:
            raise ConfigError("model", str(err)) from None


def _pretrained(model: dict[str, Any]) -> bool:
    """Does the recipe's zoo model load shipped weights: ``pretrained`` given, or its default (minilm: True)?"""
    from .. import models

    kwargs = model.get("kwargs", {})
    if "pretrained" in kwargs or model.get("name") not in models.names():
        return bool(kwargs.get("pretrained"))
    return bool(models.signature(model["name"]).get("pretrained", False))


def check_stages(recipe: Any) -> None:
    """Every stage can run where it stands: a known kind, a baseline before a stage that needs it,
    what its config names outside the recipe exists (``preflight``), and after a terminal stage
    (quantization) only stages that leave the model unchanged (export, measure)."""
    seen_train = False
    terminal_at: int | None = None
    for stage in recipe.stages:
        where = f"stages[{stage.index}]"
        if stage.kind not in APPLIERS:
            raise ConfigError(where, f"{stage.name!r} is a {stage.kind!r} algorithm, which the pipeline cannot run; "
                              f"stage kinds: {', '.join(APPLIERS)}")
        if terminal_at is not None and APPLIERS[stage.kind].mutates:
            after = " and ".join(n for kind, a in APPLIERS.items() if not a.mutates for n in names(kind))
            final = recipe.stages[terminal_at].name
            raise ConfigError(where, f"{stage.name!r} cannot follow stages[{terminal_at}] ({final}), whose model "
                              f"is final; after it only {after} may run")
        if stage.config.needs_baseline and not seen_train and not _pretrained(recipe.model):
            # a pretrained model is its own baseline (the run's input); a fresh one would teach nothing
            raise ConfigError(stage.path, "needs the baseline (the model after the first train stage), but no "
                              "train stage comes before it; add one first (or build a pretrained model: "
                              "pretrained: true)")
        try:
            stage.config.preflight()
        except ConfigError as err:
            raise err.at(stage.path) from None
        except FileNotFoundError as err:  # a teacher folder without model.json: a run directory, a user's folder
            raise _no_model(stage, err) from None
        seen_train = seen_train or stage.kind == "train"
        if stage.config.terminal and terminal_at is None:
            terminal_at = stage.index


def _no_model(stage: Any, err: FileNotFoundError) -> ConfigError:
    """A folder a stage names (a teacher) holds no model.json: name the saved models inside it (a run's stages).
    The folder is the missing file's (``err.missing_file``, set by io.load): the pipeline knows no algorithm fields."""
    missing = getattr(err, "missing_file", None)
    if missing is None or missing.name != "model.json":
        return ConfigError(stage.path, str(err))
    folder = missing.parent
    inside = sorted({str(p.parent) for pattern in ("*/model.json", "*/*/model.json") for p in folder.glob(pattern)})
    hint = f" (the saved models in it: {', '.join(inside[:5])})" if inside else ""
    return ConfigError(stage.path, f"{folder} holds no model.json{hint}; allowed: 'baseline', a folder written by "
                                   "st.save (holding model.json), or a zoo name with weights")


def _check_rows(stage: Any, spec: Any, rows: int) -> None:
    """A stage that trains needs 2 training rows (one may be held out to keep its best epoch, as distillation
    does): refused here, before any stage runs, not when that stage starts."""
    if stage.train is not None and rows < 2:
        raise ConfigError("data.train_subset" if spec.train_subset else "data",
                          f"{rows} training row(s); {stage.path} trains on them and needs at least 2 (one may be "
                          "held out to choose the best epoch); allowed: at least 2 training rows")


def prepare(recipe: Any) -> Prepared:
    """Validate the recipe against real data and the real model; writes nothing.

    Raises:
        ConfigError: the first problem, with its field path.
    """
    check_stages(recipe)
    check_finite_tree("model", recipe.model)  # configs check their own floats; model kwargs are a plain dict
    trains = [recipe.train, *(s.train for s in recipe.stages if s.train is not None)]
    for cfg in trains:
        check_device(cfg.device)
    train, test = load_data(recipe.data, RUN_TESTS)
    check_test_rows(recipe.data, test, RUN_TESTS)
    check_label_free(recipe, train)
    model = build_model(recipe.model, seed=recipe.train.seed)
    for loss in dict.fromkeys(cfg.loss if isinstance(cfg.loss, str) else None for cfg in trains):
        check_forward(model, train, recipe.data.name, loss=loss, test=test)
    for stage in recipe.stages:  # what a stage names outside the recipe (a teacher) against the real model and data
        try:
            stage.config.preflight_fit(model, train.x[:2])
        except ConfigError as err:
            raise err.at(stage.path) from None
        _check_rows(stage, recipe.data, len(train))
    return Prepared(train, test, model, train.x[:64].clone())
