"""Reading model folders we did not write: every declared size is checked before anything is allocated.

A saved model folder may come from anyone (a download, a colleague, a tampered run directory). Its
``model.json`` and ``model.safetensors`` are therefore treated as data to check, never as instructions:

- the JSON must parse and have the layout ``st.save`` writes (one line naming the file otherwise);
- the safetensors header must parse, and its offsets must fit the file's actual bytes;
- a spec naming a ``factory`` (``"package.module:function"``) is refused unless the caller trusts it,
  since rebuilding it would import and call code named by the file;
- the architecture is first built on the meta device (no memory) and its tensor shapes must match
  the shapes the file holds, so a declared width of 2e9 is refused instead of allocated.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}
_MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header
FORMAT_VERSION = 1  # the model.json layout st.save writes; a newer one may mean what this code cannot read


class ModelFileError(ValueError):
    """A saved model file is unreadable, inconsistent or untrusted: the message is one line naming it."""


class UntrustedFactoryError(ModelFileError):
    """A saved model names code to run (a factory) that the caller did not say to trust."""


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or a one-line :class:`ModelFileError` naming the file."""
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: not valid JSON ({first_line(err)})") from None
    except RecursionError:  # [[[[...]]]]: the decoder recurses once per level
        raise ModelFileError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def check_meta(meta: dict[str, Any], path: Path) -> None:
    """The layout ``st.save`` writes: a spec with a zoo name or a factory, a list of transforms, encodings."""
    if meta.get("format", "slimtorch") != "slimtorch":
        raise ModelFileError(f"{path}: format {str(meta['format'])[:40]!r} is not a slimtorch model (st.save "
                             "writes 'slimtorch')")
    version = meta.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        why = "is newer than this slimtorch reads" if newer else "is not one of"
        raise ModelFileError(f"{path}: format version {version!r} {why} ({FORMAT_VERSION}); upgrade slimtorch "
                             "or re-save the model")
    spec = meta.get("spec")
    if not isinstance(spec, dict) or ("name" in spec) == ("factory" in spec):
        raise ModelFileError(f"{path}: 'spec' must be an object with exactly one of 'name' or 'factory'")
    if not isinstance(spec.get("name", spec.get("factory")), str) or not isinstance(spec.get("kwargs", {}), dict):
        raise ModelFileError(f"{path}: 'spec' needs a string name/factory and an object 'kwargs'")
    transforms = meta.get("transforms", [])
    if not isinstance(transforms, list) or not all(isinstance(t, dict) and isinstance(t.get("kind"), str)
                                                   for t in transforms):
        raise ModelFileError(f"{path}: 'transforms' must be a list of objects with a string 'kind'")
    enc = meta.get("encodings", {})
    if not isinstance(enc, dict) or not all(isinstance(e, dict) and isinstance(e.get("parts"), list)
                                            and isinstance(e.get("codec"), str) for e in enc.values()):
        raise ModelFileError(f"{path}: 'encodings' must map tensor names to {{codec, meta, parts}}")
    _check_extra(meta.get("extra", {}), path)


# the metadata slimtorch itself writes into 'extra' and reads back (the CLI sizes inputs and names classes by it)
_EXTRA = {"input_shape": ("a list of positive integers", lambda v: isinstance(v, list) and all(
              isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v)),
          "classes": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v)),
          "stage": ("a string", lambda v: isinstance(v, str))}


def _check_extra(extra: Any, path: Path) -> None:
    """'extra' is an object, and the fields slimtorch reads back from it have their types."""
    if not isinstance(extra, dict):
        raise ModelFileError(f"{path}: 'extra' must be an object, got {type(extra).__name__}")
    for key, (allowed, ok) in _EXTRA.items():
        if extra.get(key) is not None and not ok(extra[key]):  # null: not recorded (classes of numeric labels)
            raise ModelFileError(f"{path}: extra.{key} is {json.dumps(extra[key])[:60]}; allowed: {allowed}")


def check_factory(spec: dict[str, Any], trust_factory: bool | Iterable[str], source: Path | str) -> None:
    """Refuse a factory spec unless ``trust_factory`` is True or lists that very factory."""
    factory = spec.get("factory")
    if factory is None or trust_factory is True:
        return
    if trust_factory and not isinstance(trust_factory, (bool, str)) and factory in set(trust_factory):
        return
    raise UntrustedFactoryError(
        f"{source} names the factory {factory!r}, which would import and run that code; only zoo models "
        "load by default. If you trust this folder, load it with st.load(dir, trust_factory=True) "
        "(CLI: --trust-factory)")


def read_header(path: Path) -> dict[str, dict[str, Any]]:
    """The tensors a safetensors file declares ({name: {dtype, shape, data_offsets}}), checked against
    the file's size: every tensor's bytes must be its shape times its dtype width and lie inside the file."""
    if not path.is_file():  # a directory or a FIFO (which would block the read forever)
        raise ModelFileError(f"{path}: not a file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ModelFileError(f"{path}: truncated (no safetensors header)")
        (n,) = struct.unpack("<Q", head)
        if n > min(_MAX_HEADER, size - 8):
            raise ModelFileError(f"{path}: truncated or not a safetensors file (header of {n} bytes in a "
                                 f"{size}-byte file)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ModelFileError(f"{path}: corrupt safetensors header") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: corrupt safetensors header (a JSON {type(header).__name__}, not an object)")
    header.pop("__metadata__", None)
    data_bytes = size - 8 - n
    for name, info in header.items():
        try:
            width = _DTYPE_BYTES[info["dtype"]]
            shape = [int(d) for d in info["shape"]]
            start, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{path}: tensor {name!r} has a malformed header entry") from None
        if min(shape, default=0) < 0 or not 0 <= start <= end <= data_bytes or end - start != math.prod(shape) * width:
            raise ModelFileError(f"{path}: tensor {name!r} declares shape {shape} ({info['dtype']}) that does not "
                                 f"match its {end - start} bytes, or lies outside the file (truncated?)")
    return header


def check_shapes(expected: dict[str, torch.Size], declared: dict[str, list[int]], path: Path) -> None:
    """The architecture's tensors (built on the meta device) must be exactly the ones the file holds."""
    missing = sorted(set(expected) - set(declared))
    extra = sorted(set(declared) - set(expected))
    if missing or extra:
        what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise ModelFileError(f"{path}: the tensors do not match the architecture in model.json ({what})")
    for name, shape in expected.items():
        if list(shape) != list(declared[name]):
            raise ModelFileError(f"{path}: tensor {name!r} is {list(declared[name])} in the file but "
                                 f"{list(shape)} in the architecture model.json describes")


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
