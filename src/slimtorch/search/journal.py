"""Resume an interrupted search: every finished trial is kept on disk, and found again by its hash.

A trial's hash covers what decides its outcome: the original's weights, the kept channels, the
recovery settings, the validation rows and the batch it is timed at. A resumed search that asks for a
candidate already tried loads its recovered model and its measurements instead of training it again
(as ``slimtorch run`` skips the stages it finished). A trial is written model first, record last
(atomically), so a search stopped in the middle of writing leaves no half trial behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import io
from .space import Keep
from .trial import Trial


def fingerprint(model: nn.Module) -> str:
    """sha256 of a model's tensors (names, shapes, values): the same weights give the same hash."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def data_fingerprint(x: torch.Tensor, y: Any = None) -> str:
    """sha256 of a dataset's inputs (and labels)."""
    h = hashlib.sha256(x.detach().cpu().contiguous().numpy().tobytes())
    if isinstance(y, torch.Tensor):
        h.update(y.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class Journal:
    """Finished trials in ``directory``: ``<hash>.json`` (the measurements) and ``<hash>/`` (the model).

    Args:
        directory: where trials are kept (created on the first write).
        context: what else decides a trial (recovery settings, data and model fingerprints, batch size).
    """

    def __init__(self, directory: str | Path, context: dict[str, Any]):
        self.dir = Path(directory)
        self.salt = json.dumps(context, sort_keys=True, default=str)
        self.resumed = 0

    def key(self, keep: Keep, epochs: int | None = None) -> str:
        """The hash of a candidate in this search (``epochs``: a recovery longer than the search's own)."""
        longer = "" if epochs is None else f"|epochs={epochs}"
        return hashlib.sha256(f"{self.salt}|{list(keep)}{longer}".encode()).hexdigest()[:20]

    def get(self, keep: Keep, index: int, epochs: int | None = None) -> Trial | None:
        """The finished trial of ``keep`` (renumbered ``index``), or None when it was not finished before."""
        key = self.key(keep, epochs)
        path = self.dir / f"{key}.json"
        if not path.is_file():
            return None
        try:
            rec = json.loads(path.read_text())
            model = io.load(self.dir / key).eval()
        except (OSError, ValueError, KeyError):  # unreadable leftovers: the trial runs again
            return None
        rec.update(index=index, keep=tuple(rec["keep"]), model=model)
        self.resumed += 1
        return Trial(**rec)

    def put(self, trial: Trial) -> None:
        """Keep a finished trial (model first, then its record)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        key = self.key(trial.keep, trial.epochs)
        io.save(trial.model, self.dir / key)
        rec = {f.name: getattr(trial, f.name) for f in dataclasses.fields(trial) if f.name != "model"}
        rec["keep"] = list(trial.keep)
        io.write_json(self.dir / f"{key}.json", rec)
