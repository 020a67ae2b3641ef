"""Distillation with labels that never silently hurts: compare with the student trained alone, keep the better.

Distillation can end worse than plain training (a weak or mismatched teacher, a student too small to
follow it, a temperature that flattens everything). ``st.distill`` therefore trains two copies of the
student on all rows but a seeded validation split, one with the teacher and one alone (``alpha=0``, the
same epochs and seed), and keeps the more accurate on the validation split (distillation must be
strictly better). The winner is then trained again from the same initial weights on every row, so a
student that lost to plain training ends exactly as ``st.fit(student, data, cfg)`` would have.
``alpha="auto"`` adds a small grid: each (alpha, temperature) pair of AUTO_GRID is a candidate.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..bench.evaluate import evaluate
from ..data.arrays import ArrayDataset
from .config import AUTO_GRID
from .report import attach
from .validation import evaluated_on, holdout


def compare_alone(student: nn.Module, x: torch.Tensor, y: torch.Tensor, kd: Any, cfg: Any,
                  fit: Callable[..., Any], eval_data: Any = None) -> tuple[nn.Module, Any]:
    """Train ``student`` with ``kd`` or alone, whichever is more accurate on a held-out split; warn when KD lost.

    Classes are compared by accuracy; float targets of one value per row (regression) by mean loss.

    With ``alpha="auto"`` every (alpha, temperature) pair of AUTO_GRID is a candidate beside the student alone.

    Args:
        student: the model to train (in place; its initial weights start every candidate).
        x, y: all labelled rows.
        kd: the Distill hook (its teacher and settings; a fresh copy trains each candidate).
        cfg: the TrainConfig of every fit.
        fit: ``st.fit``.
        eval_data: evaluated after each epoch of the final fit (labelled data only).

    Returns:
        The trained student (the winner retrained on all rows, with a report: ``distill_report``) and the
        History of that last fit.
    """
    train_rows, val_rows = holdout(len(x), kd.cfg.val_fraction, cfg.seed)
    part = ArrayDataset(x[train_rows], y[train_rows], "distill-train")
    val = ArrayDataset(x[val_rows], y[val_rows], "distill-val")
    settings = candidates(kd.cfg)
    metric = "loss" if y.is_floating_point() and y.ndim == 1 else "accuracy"  # regression targets: mean error
    sign = -1.0 if metric == "loss" else 1.0
    score = {}
    for name, kd_cfg in settings.items():
        candidate = copy.deepcopy(student)
        fit(candidate, part, sub_config(cfg, name), hooks=[] if kd_cfg is None else [type(kd)(kd.teacher, kd_cfg)])
        score[name] = float(evaluate(candidate, val, batch_size=cfg.eval_batch_size)[metric])
    best_kd = max((n for n in settings if n != "alone"), key=lambda n: sign * score[n])  # the first of equals
    choice = best_kd if sign * score[best_kd] > sign * score["alone"] else "alone"  # KD must be strictly better
    if choice == "alone":
        shown = (lambda v: f"{100 * v:.2f}%") if metric == "accuracy" else (lambda v: f"{v:.4g}")
        warnings.warn(f"distillation was not better than training the student alone on the validation split "
                      f"({shown(score[best_kd])} vs {shown(score['alone'])} {metric}); "
                      "kept the student trained alone", UserWarning, stacklevel=5)
    chosen = settings[choice]
    hooks = [] if chosen is None else [kd if chosen == kd.cfg else type(kd)(kd.teacher, chosen)]
    history = fit(student, ArrayDataset(x, y, "distill-all"), cfg, hooks=hooks,
                  **evaluated_on(eval_data))
    model = history.model if getattr(history, "model", None) is not None else student
    attach(model, {"mode": "compare", "choice": choice, f"val_{metric}": score, "val_rows": len(val_rows),
                   "train_rows": len(train_rows), "alpha": None if chosen is None else chosen.alpha,
                   "temperature": None if chosen is None else chosen.temperature})
    return model, history


def candidates(kd_cfg: Any) -> dict[str, Any]:
    """Name -> DistillConfig of each candidate (None: the student alone); "distill" is ``kd_cfg`` itself.

    Example:
        >>> list(candidates(DistillConfig(alpha="auto")))  # doctest: +SKIP
        ['alone', 'alpha=0.5,T=1', 'alpha=0.5,T=4', 'alpha=0.9,T=1', 'alpha=0.9,T=4']
    """
    if kd_cfg.alpha != "auto":
        return {"alone": None, "distill": kd_cfg}
    grid = {f"alpha={a:g},T={t:g}": kd_cfg.replace(alpha=a, temperature=t) for a, t in AUTO_GRID}
    return {"alone": None, **grid}


def sub_config(cfg: Any, name: str) -> Any:
    """A candidate's ``cfg``: quiet (only the final fit reports its epochs), its checkpoints in ``out/name`` (the
    fits of one call must not share a directory; the final fit writes into ``out`` itself)."""
    return cfg.replace(quiet=True, out=str(Path(cfg.out) / name) if cfg.out else None)
