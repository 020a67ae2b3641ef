"""What the trainer shows and writes: a tqdm bar on a terminal, one line per epoch, metrics.jsonl."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any


class Progress:
    """A per-epoch tqdm bar, only on the main process, only on a terminal, only when not quiet."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None

    def start(self, epoch: int, epochs: int, total: int) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=f"epoch {epoch}/{epochs}", leave=False, file=sys.stderr,
                            dynamic_ncols=True)

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def epoch_line(epoch: int, epochs: int, m: dict[str, float]) -> str:
    """One human-readable line per epoch."""
    parts = [f"epoch {epoch}/{epochs}", f"loss {m['loss']:.4f}"]
    if not math.isnan(m["accuracy"]):
        parts.append(f"acc {100 * m['accuracy']:.2f}%")
    if not math.isnan(m["eval_loss"]):
        parts.append(f"eval_loss {m['eval_loss']:.4f}")
    if not math.isnan(m["eval_accuracy"]):
        parts.append(f"eval_acc {100 * m['eval_accuracy']:.2f}%")
    parts += [f"lr {m['lr']:.3g}", f"grad_norm {m['grad_norm']:.3g}", f"{m['seconds']:.1f}s",
              f"{m['samples_per_s']:.0f} samples/s"]
    return "  ".join(parts)


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.jsonl`` from the history (one JSON object per epoch); rewriting (not appending)
    keeps the file consistent with the checkpoint after a resume."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    tmp.replace(path)
