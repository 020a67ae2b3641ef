"""Training checkpoints as safetensors + JSON (no pickle), written atomically.

A checkpoint is ``ckpt-E.safetensors`` (every tensor: model, optimizer state, RNG states, hook
tensors) and ``ckpt-E.json`` (everything else, with tensors replaced by references). Both are
complete before ``latest.json`` is atomically switched to name epoch E, so a crash at any moment
leaves the previous checkpoint usable.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..io import atomic_write, write_json

_T, _TUPLE = "__tensor__", "__tuple__"


def split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor in a nested dict/list structure by a reference, storing it in ``tensors``."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        # clone: safetensors refuses tensors that share storage (views, tied weights)
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {_T: key}
    if isinstance(obj, dict):
        return {"__dict__": [[split_tensors(k, f"{prefix}.k{i}", tensors), split_tensors(v, f"{prefix}.{i}", tensors)]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {_TUPLE: [split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store {type(obj).__name__} at {prefix!r} (only tensors, numbers, "
                    "strings, lists, tuples and dicts)")


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`."""
    if isinstance(obj, dict):
        if _T in obj:
            return tensors[obj[_T]]
        if _TUPLE in obj:
            return tuple(join_tensors(v, tensors) for v in obj[_TUPLE])
        return {join_tensors(k, tensors): join_tensors(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def rng_state() -> dict[str, Any]:
    """Every RNG a training step can touch: torch CPU (+ CUDA), numpy and Python's ``random``."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    state["numpy"] = torch.from_numpy(np.random.get_state()[1].astype(np.int64))
    np_state = np.random.get_state()
    state["numpy_meta"] = [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]
    py = random.getstate()
    state["python"] = [py[0], list(py[1]), py[2]]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))
    meta = state["numpy_meta"]
    np.random.set_state((meta[0], state["numpy"].numpy().astype(np.uint32), meta[1], meta[2], meta[3]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(directory: str | Path, epoch: int, state: dict[str, Any], keep: int = 1) -> Path:
    """Write ``state`` (nested dicts of tensors and JSON values) as checkpoint ``epoch`` of ``directory``.

    Args:
        directory: the run directory.
        epoch: number of finished epochs; names the files.
        state: ``{"model": state_dict, "optimizer": ..., ...}``.
        keep: how many checkpoints to keep (older ones are deleted after the switch).

    Returns:
        Path of the JSON file written.
    """
    directory = Path(directory)
    tensors: dict[str, torch.Tensor] = {}
    meta = {"format": "slimtorch-checkpoint", "version": 1, "epoch": epoch, "state": split_tensors(state, "s", tensors)}
    weights, meta_path = directory / f"ckpt-{epoch}.safetensors", directory / f"ckpt-{epoch}.json"
    atomic_write(weights, lambda tmp: save_file(tensors, tmp))
    write_json(meta_path, meta)
    write_json(directory / "latest.json", {"epoch": epoch, "json": meta_path.name, "tensors": weights.name})
    for old in sorted(directory.glob("ckpt-*.json")):
        e = int(old.stem.split("-")[1])
        if e <= epoch - keep:
            old.unlink(missing_ok=True)
            old.with_suffix(".safetensors").unlink(missing_ok=True)
    return meta_path


def load_checkpoint(directory: str | Path) -> dict[str, Any] | None:
    """The latest checkpoint in ``directory`` as ``{"epoch": E, "state": ...}``, or None when there is none.

    Raises:
        ValueError: ``latest.json`` names files that are missing or not a slimtorch checkpoint.
    """
    directory = Path(directory)
    latest = directory / "latest.json"
    if not latest.exists():
        return None
    pointer = json.loads(latest.read_text())
    meta_path, weights = directory / pointer["json"], directory / pointer["tensors"]
    if not meta_path.exists() or not weights.exists():
        raise ValueError(f"{latest} names {meta_path.name}/{weights.name}, which are missing")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != "slimtorch-checkpoint":
        raise ValueError(f"{meta_path} is not a slimtorch checkpoint")
    tensors = load_file(str(weights))
    return {"epoch": int(meta["epoch"]), "state": join_tensors(meta["state"], tensors)}
