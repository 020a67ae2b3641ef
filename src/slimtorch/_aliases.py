"""Deprecated import paths of the first release (``slimtorch.prune``, ``.quant``, ``.train``,
``.distill``): kept for one release, each import warns once and yields the new pillar's modules.

The pillars are nouns now (``pruning/``, ``quantization/``, ``training/``, ``distillation/``) and the
verbs live in ``api.py``. An old package name resolves to a small forwarding module (so that importing
``slimtorch.prune`` does not replace the verb ``st.prune``); an old submodule name resolves to the very
module object of its new path (no second copy, no double registration).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

OLD_TO_NEW = {"prune": "pruning", "quant": "quantization", "train": "training", "distill": "distillation"}


class _Forward(types.ModuleType):
    """The old package: attribute reads go to the new package; calling it calls the verb of the same
    name (only ``slimtorch.prune`` was callable)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self.__dict__["_new"]), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # looked up at call time by name: the shim imports nothing of the package it serves
        verb = getattr(importlib.import_module("slimtorch.api"), self.__name__.rsplit(".", 1)[1], None)
        if verb is None:
            raise TypeError(f"module {self.__name__!r} is not callable")
        return verb(*args, **kwargs)


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str, package: bool) -> None:
        self.new, self.package = new, package

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        real = importlib.import_module(self.new)
        if not self.package:
            self._real_spec = real.__spec__  # the import system overwrites __spec__; put it back
            return real
        mod = _Forward(spec.name, real.__doc__)
        mod.__dict__.update(_new=self.new, __path__=[])
        return mod

    def exec_module(self, module: types.ModuleType) -> None:
        if not self.package:
            module.__spec__ = self._real_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        parts = fullname.split(".")
        if len(parts) < 2 or parts[0] != "slimtorch" or parts[1] not in OLD_TO_NEW:
            return None
        new = ".".join(["slimtorch", OLD_TO_NEW[parts[1]], *parts[2:]])
        if len(parts) == 2:
            warnings.warn(f"{fullname} is deprecated and will be removed in the next release; "
                          f"import slimtorch.{OLD_TO_NEW[parts[1]]} (or the verbs from slimtorch)",
                          DeprecationWarning, stacklevel=3)
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new, package=len(parts) == 2),
                                              is_package=len(parts) == 2)


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
