"""Save and load models as safetensors + JSON: no pickle, ever.

A model is rebuilt from its *spec* (a zoo name, or an importable factory with kwargs when the
caller trusts it: loading never runs code named by a file by default), then each
recorded *transform* (a channel-pruning plan, a quantization layout, ...) is replayed on the
structure by its registered rebuilder, and finally the tensors are loaded. Transforms register
a rebuilder with :func:`register_rebuilder`; tensors may be encoded compactly by codecs
registered with :func:`register_codec` (e.g. sparse bitmask + values).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .untrusted import (
    FORMAT_VERSION,
    ModelFileError,
    UntrustedFactoryError,
    check_factory,
    check_meta,
    check_shapes,
    first_line,
    read_header,
    read_json,
)

__all__ = ["ModelFileError", "UntrustedFactoryError", "atomic_write", "build_from_spec", "load", "register_codec",
           "register_rebuilder", "save", "trusting", "write_json"]

SPEC_ATTR = "_slimtorch_spec"
TRANSFORMS_ATTR = "_slimtorch_transforms"

_REBUILDERS: dict[str, Callable[[torch.nn.Module, dict], torch.nn.Module]] = {}
# name -> (encode(tensor), decode(parts, meta), shape(part shapes, meta) -> decoded shape)
_CODECS: dict[str, tuple[Callable, Callable, Callable]] = {}
_OPT_IN: set[str] = set()  # codecs used only for a model whose transforms name them (never by default)
_TRUST: contextvars.ContextVar[bool | frozenset[str]] = contextvars.ContextVar("slimtorch_trust_factory",
                                                                               default=False)


def register_rebuilder(kind: str, fn: Callable[[torch.nn.Module, dict], torch.nn.Module]) -> None:
    """Register how to replay a transform ``kind`` on a freshly built model (structure only)."""
    _REBUILDERS[kind] = fn


_ZOO: list[Callable[..., torch.nn.Module]] = []  # the zoo's build(name, **kwargs); io never imports the zoo


def register_zoo(build: Callable[..., torch.nn.Module]) -> None:
    """Register the model zoo's ``build(name, **kwargs)``: ``slimtorch.models`` does so when imported."""
    _ZOO[:] = [build]


def register_codec(name: str, encode: Callable, decode: Callable, shape: Callable, *, opt_in: bool = False) -> None:
    """Register a tensor codec. ``encode(tensor)`` returns (parts: dict[str, Tensor], meta) or None
    when the codec does not pay off; ``decode(parts, meta)`` returns the tensor; ``shape(part_shapes,
    meta)`` returns the decoded shape, raising ValueError when the parts' sizes cannot hold it (it
    runs on files we did not write, before anything is allocated). An ``opt_in`` codec encodes only
    the models whose transforms name it (so the file a model gets does not depend on import order)."""
    _CODECS[name] = (encode, decode, shape)
    if opt_in:
        _OPT_IN.add(name)


def set_spec(model: torch.nn.Module, spec: dict[str, Any]) -> torch.nn.Module:
    """Record how to rebuild ``model``: {"name": zoo_name, "kwargs": {...}} or {"factory": "pkg.mod:fn", ...}."""
    object.__setattr__(model, SPEC_ATTR, dict(spec))
    return model


def get_spec(model: torch.nn.Module) -> dict[str, Any] | None:
    return getattr(model, SPEC_ATTR, None)


def record_transform(model: torch.nn.Module, kind: str, data: dict[str, Any]) -> None:
    """Append a structural transform to the model's history so that save/load can replay it."""
    history = list(getattr(model, TRANSFORMS_ATTR, []))
    history.append({"kind": kind, **data})
    object.__setattr__(model, TRANSFORMS_ATTR, history)


def transforms(model: torch.nn.Module) -> list[dict[str, Any]]:
    return list(getattr(model, TRANSFORMS_ATTR, []))


def build_from_spec(spec: dict[str, Any], trust_factory: bool | Iterable[str] | None = None) -> torch.nn.Module:
    """Build the architecture a spec names: a zoo model, or (only when trusted) an importable factory.

    Raises:
        UntrustedFactoryError: the spec names a factory and ``trust_factory`` (default: the trust in
            force, see :func:`trusting`) does not cover it.
    """
    kwargs = dict(spec.get("kwargs", {}))
    if "factory" in spec:
        check_factory(spec, _TRUST.get() if trust_factory is None else trust_factory, "the model spec")
        fn = import_factory(spec["factory"])
        model = fn(**kwargs)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"factory {spec['factory']!r} returned {type(model).__name__}, not a torch.nn.Module")
    else:
        if not _ZOO:
            _import_algorithms()  # plugins register themselves on import, the zoo its builder
        kwargs.pop("pretrained", None)  # the weights come from the saved file
        model = _ZOO[0](spec["name"], **kwargs)
    return set_spec(model, spec)


@contextlib.contextmanager
def trusting(trust_factory: bool | Iterable[str]) -> Iterator[None]:
    """Within the block, :func:`load` and :func:`build_from_spec` trust these factories (True: any)
    unless their caller says otherwise: how a run trusts what its user allowed on the command line."""
    token = _TRUST.set(trust_factory if isinstance(trust_factory, bool) else frozenset(trust_factory))
    try:
        yield
    finally:
        _TRUST.reset(token)


def import_factory(path: str) -> Callable:
    """Import ``"package.module:function"``. This runs user code by design."""
    if ":" not in path:
        raise ValueError(f"factory {path!r} must look like 'package.module:function'")
    mod_name, fn_name = path.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as err:
        raise ValueError(f"factory {path!r}: cannot import module {mod_name!r} ({err})") from None
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise ValueError(f"factory {path!r}: module {mod_name!r} has no callable {fn_name!r}")
    return fn


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Write through a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, data: Any, compact: bool = False) -> None:
    """Write JSON atomically; ``compact`` drops the indentation (model files: bytes on disk count)."""

    def w(tmp: str) -> None:
        with open(tmp, "w") as f:
            if compact:
                json.dump(data, f, separators=(",", ":"), sort_keys=True, default=str)
            else:
                json.dump(data, f, indent=2, sort_keys=True, default=str)

    atomic_write(path, w)


def _encode(state: dict[str, torch.Tensor],
            first: Iterable[str] = ()) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Encode each tensor with the first codec that pays off: those in ``first``, then in registration order."""
    tensors: dict[str, torch.Tensor] = {}
    encodings: dict[str, Any] = {}
    order = [c for c in first if c in _CODECS] + [c for c in _CODECS if c not in first and c not in _OPT_IN]
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        for codec in order:
            res = _CODECS[codec][0](t)
            if res is not None:
                parts, meta = res
                for part, pt in parts.items():
                    tensors[f"{name}::{part}"] = pt.contiguous()
                encodings[name] = {"codec": codec, "meta": meta, "parts": sorted(parts)}
                break
        else:
            tensors[name] = t
    return tensors, encodings


def _decode(tensors: dict[str, torch.Tensor], encodings: dict[str, Any]) -> dict[str, torch.Tensor]:
    state = {k: v for k, v in tensors.items() if "::" not in k}
    for name, info in encodings.items():
        parts = {p: tensors[f"{name}::{p}"] for p in info["parts"]}
        state[name] = _CODECS[info["codec"]][1](parts, info["meta"])
    return state


def save(model: torch.nn.Module, directory: str | os.PathLike, spec: dict[str, Any] | None = None,
         extra: dict[str, Any] | None = None) -> Path:
    """Save ``model`` to ``directory`` as ``model.safetensors`` + ``model.json`` (atomically).

    Args:
        model: a model built by ``st.models.build`` or one whose spec is given.
        directory: output folder (created).
        spec: how to rebuild the architecture, e.g. ``{"factory": "mypkg.nets:make", "kwargs": {}}``;
            defaults to the spec recorded when the model was built.
        extra: JSON-able metadata stored beside the weights.

    Returns:
        The directory path.

    Raises:
        ValueError: the model has no spec (it was not built by the zoo and none was given).
    """
    spec = spec or get_spec(model)
    if spec is None:
        raise ValueError("cannot save: the model has no build spec. Build it with st.models.build(...) "
                         "or pass spec={'factory': 'package.module:function', 'kwargs': {...}}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # a transform may name the codec its tensors are meant for (weight sharing: "packed")
    tensors, encodings = _encode(model.state_dict(), [t["codec"] for t in transforms(model) if "codec" in t])
    meta = {"format": "slimtorch", "version": FORMAT_VERSION, "spec": spec,
            "transforms": transforms(model), "encodings": encodings, "extra": extra or {}}
    atomic_write(directory / "model.safetensors", lambda tmp: save_file(tensors, tmp))
    write_json(directory / "model.json", meta, compact=True)
    return directory


def load(directory: str | os.PathLike, map_location: str = "cpu",
         trust_factory: bool | Iterable[str] | None = None) -> torch.nn.Module:
    """Load a model saved by :func:`save`: check the files, rebuild, replay transforms, load tensors.

    Nothing in the folder runs code: the architecture comes from the model zoo (a ``factory`` spec is
    refused unless trusted), every declared size is checked against the file's bytes, and the
    architecture is built on the meta device first so that its shapes are checked before any memory
    is allocated.

    Args:
        directory: a folder written by :func:`save`.
        map_location: device of the loaded tensors.
        trust_factory: True to allow any ``factory`` spec (it imports and calls that code), or the
            factories to allow; default: none, unless inside :func:`trusting`.

    Raises:
        FileNotFoundError: the folder has no model.json / model.safetensors.
        ModelFileError: (a ValueError) a corrupt, truncated or inconsistent file, an unknown
            transform, or an untrusted factory; the message is one line naming the file.

    Example:
        >>> model = st.load("runs/demo/stages/03-int8")  # doctest: +SKIP
    """
    directory = Path(directory)
    meta_path, weights_path = directory / "model.json", directory / "model.safetensors"
    for p in (meta_path, weights_path):
        if not p.exists():  # a directory or a FIFO in their place is refused by read_json / read_header
            missing = FileNotFoundError(f"{p} not found: is {directory} a folder written by st.save?")
            missing.missing_file = p  # for callers (OSError.filename would turn the message into '[Errno None] ...')
            raise missing
    meta = read_json(meta_path)
    check_meta(meta, meta_path)
    check_factory(meta["spec"], _TRUST.get() if trust_factory is None else trust_factory, meta_path)
    _import_algorithms()
    declared = _declared_shapes(read_header(weights_path), meta.get("encodings", {}), weights_path)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # builders that load their own weights warn that meta copies are no-ops
        try:
            skeleton = _rebuild(meta, meta_path, trust=True)
        except ModelFileError:
            raise
        except Exception:  # a builder that cannot run on the meta device: the strict load below still checks
            skeleton = None
    if skeleton is not None:
        check_shapes({k: v.shape for k, v in skeleton.state_dict().items()}, declared, weights_path)
    model = _rebuild(meta, meta_path, trust=True)
    try:
        state = _decode(load_file(str(weights_path), device=map_location), meta.get("encodings", {}))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, KeyError, ValueError) as err:
        raise ModelFileError(f"{weights_path}: cannot load the tensors ({first_line(err)})") from None
    return model.eval()


def _rebuild(meta: dict[str, Any], meta_path: Path, trust: bool) -> torch.nn.Module:
    """The architecture of a checked model.json: build its spec, replay its transforms (no tensors)."""
    try:
        model = build_from_spec(meta["spec"], trust_factory=trust)
    except (ValueError, TypeError, KeyError) as err:
        raise ModelFileError(f"{meta_path}: cannot rebuild the architecture ({first_line(err)})") from None
    for t in meta.get("transforms", []):
        if t["kind"] not in _REBUILDERS:
            raise ModelFileError(f"{meta_path}: saved model uses transform {t['kind']!r}, unknown to this "
                                 f"slimtorch; known: {', '.join(sorted(_REBUILDERS)) or 'none'}")
        try:
            model = _REBUILDERS[t["kind"]](model, t) or model
        except Exception as err:  # the transform's data is untrusted input: any failure is a bad file
            why = first_line(err) if not isinstance(err, KeyError) else f"missing field {err}"
            raise ModelFileError(f"{meta_path}: cannot replay transform {t['kind']!r} ({why})") from None
        record_transform(model, t["kind"], {k: v for k, v in t.items() if k != "kind"})
    return model


def _declared_shapes(header: dict[str, dict[str, Any]], encodings: dict[str, Any], path: Path) -> dict[str, list]:
    """The state-dict shapes a file declares: plain tensors from the header, encoded ones from their
    codec, which checks the declared shape against its parts' sizes."""
    shapes = {k: list(v["shape"]) for k, v in header.items() if "::" not in k}
    for name, info in encodings.items():
        parts = {p: header.get(f"{name}::{p}", {}).get("shape") for p in info["parts"]}
        codec = _CODECS.get(info["codec"])
        if codec is None or any(v is None for v in parts.values()):
            raise ModelFileError(f"{path}: tensor {name!r} uses codec {info['codec']!r} with parts "
                                 f"{sorted(parts)} that this file or slimtorch does not have")
        try:
            shapes[name] = list(codec[2](parts, info.get("meta")))
        except (ValueError, TypeError, KeyError) as err:
            raise ModelFileError(f"{path}: tensor {name!r}: {first_line(err)}") from None
    return shapes


def _import_algorithms() -> None:
    """Import the packages that register themselves here (zoo builder, rebuilders, codecs), by name:
    io depends on none of them, they depend on io."""
    for mod in ("models", "pruning", "quantization", "compression"):
        try:
            importlib.import_module(f"slimtorch.{mod}")
        except ImportError:
            pass
