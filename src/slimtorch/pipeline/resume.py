"""Resumable runs: each stage is keyed by a hash of its config and of its inputs.

A stage whose key matches a finished record in ``state.json`` is skipped; a stage recorded as
started with the same key resumes from its trainer checkpoint; any other stage runs afresh. The
state file is rewritten atomically after every change, so a kill at any moment leaves every
finished stage recorded and its files intact.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ..io import write_json

STATE_FILE = "state.json"
_CHUNK = 1 << 20


def digest(obj: Any) -> str:
    """A stable sha256 of a JSON-able object (keys sorted; non-JSON values by ``str``)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def model_hash(directory: str | Path) -> str:
    """Hash of a model saved by ``st.save``: its tensors file and its metadata (``extra`` left out,
    since it holds notes such as timings that do not change the model)."""
    directory = Path(directory)
    h = hashlib.sha256()
    with open(directory / "model.safetensors", "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    meta = json.loads((directory / "model.json").read_text())
    if not isinstance(meta, dict):
        raise ValueError(f"{directory / 'model.json'}: not a JSON object")
    meta.pop("extra", None)
    h.update(digest(meta).encode())
    return h.hexdigest()


def stage_key(stage: dict[str, Any], inputs: dict[str, str], context: dict[str, Any]) -> str:
    """The key of one stage run: its config, the hashes of its input models and the shared context
    (data spec) that changes its result."""
    return digest({"stage": stage, "inputs": inputs, "context": context})


class RunState:
    """The ``state.json`` of a run directory: one record per stage folder name."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / STATE_FILE
        self.records: dict[str, dict[str, Any]] = {}
        self.problem: str | None = None  # why an existing state file was set aside (the caller says so)
        if self.path.exists():
            try:
                records = json.loads(self.path.read_text()).get("stages", {})
                if not isinstance(records, dict) or not all(isinstance(r, dict) for r in records.values()):
                    raise ValueError("stages is not a mapping of records")
                self.records = records
            except (ValueError, AttributeError, OSError):  # ValueError covers bad JSON and bad UTF-8
                # an unreadable state only costs a rerun, never a wrong skip; but never a silent one
                self.problem = (f"{self.path} is corrupt (not the JSON a run writes); starting over: every stage "
                                "runs again")

    def finished(self, label: str, key: str, stage_dir: Path) -> dict[str, Any] | None:
        """The record of ``label`` if it finished with this ``key`` and its files are still the ones it
        wrote (same hash): a deleted, truncated or tampered stage folder is run again, never skipped."""
        rec = self.records.get(label)
        if not rec or rec.get("status") != "done" or rec.get("key") != key:
            return None
        if rec.get("saved"):
            try:
                if model_hash(stage_dir) != rec.get("model_hash"):
                    return None
            except (OSError, ValueError):  # missing or unreadable files: the stage runs again
                return None
        return rec

    def resumable(self, label: str, key: str) -> bool:
        """True when ``label`` was started with the same ``key`` and did not finish."""
        rec = self.records.get(label)
        return bool(rec) and rec.get("status") == "running" and rec.get("key") == key

    def start(self, label: str, key: str) -> None:
        self.records[label] = {"status": "running", "key": key}
        self._write()

    def finish(self, label: str, key: str, record: dict[str, Any]) -> None:
        self.records[label] = {**record, "status": "done", "key": key}
        self._write()

    def _write(self) -> None:
        write_json(self.path, {"format": "slimtorch-run", "version": 1, "stages": self.records})


def tensors_hash(model: Any) -> str:
    """Hash of a model in memory: its spec and every state-dict tensor (name, dtype, shape, bytes)."""
    from ..io import get_spec

    h = hashlib.sha256(digest(get_spec(model)).encode())
    for name, t in sorted(model.state_dict().items()):
        if not isinstance(t, torch.Tensor):
            h.update(f"{name}|{t!r}".encode())
            continue
        t = (t.int_repr() if t.is_quantized else t).detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
