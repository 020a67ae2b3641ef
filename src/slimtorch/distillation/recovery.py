"""``st.distill``: distillation that keeps its best epoch, works without labels and never silently hurts.

Without labels (a tensor of inputs, ``images:DIR`` without subfolders, ``text:FILE``) the student learns only
from the teacher (``alpha=1``): soft targets for classifiers, cosine for unit-norm embeddings (``loss="auto"``).
A seeded validation split (``val_fraction``) is held out; after every epoch the student's fidelity to the
teacher is measured on it (top-1 agreement when it moves by more than its standard error, else KL;
or mean cosine), training stops after ``patience`` epochs without a better one, and the best epoch's
weights are kept (epoch 0, the student as given, counts: a recovery that only hurts returns the student
unchanged). A student recovered without labels trains with its dropout off (the teacher's function has none);
its rates are put back. With labels, see compare.py.

The report is stored on the returned model: ``st.distillation.distill_report(model)`` (report.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from ..config import ConfigError
from ..data.arrays import ArrayDataset
from ..devices import scalar_like
from ..hooks import Hook, State
from .features import primary_tensor
from .report import attach
from .validation import as_rows, better, evaluated_on, fidelity_scores, has_labels, holdout, predict

FitFn = Callable[..., Any]  # st.fit's signature: fit(model, data, cfg, hooks=[...]) -> History


def no_task_loss(outputs: Any, targets: torch.Tensor) -> torch.Tensor:
    """The task loss of rows without labels: zero (with a graph), so only the teacher's terms train."""
    out = primary_tensor(outputs).sum()
    return out * scalar_like(0.0, out)  # a tensor: a Python float traces as float64 on lazy backends


class BestEpoch(Hook):
    """Score the student's fidelity to the teacher on held-out inputs after every epoch; keep the best weights.

    Sets ``stop_training`` after ``patience`` epochs without a better score (the trainer then stops) and
    loads the best epoch's weights into the student in ``finalize``.

    Args:
        teacher: the reference model (the student is compared with its outputs).
        val_x: held-out inputs (never trained on).
        kind: "classifier" (top-1 agreement beyond its standard error, else KL: ``validation.better``) or
            "encoder" (mean cosine).
        patience: epochs without improvement before stopping; None never stops early.
    """

    def __init__(self, teacher: nn.Module, val_x: torch.Tensor, kind: str, patience: int | None):
        self.teacher, self.val_x, self.kind, self.patience = teacher, val_x, kind, patience
        self.scores: list[dict[str, float]] = []
        self.best_epoch, self.bad = 0, 0
        self.best: dict[str, torch.Tensor] | None = None
        self.stop_training = False
        self._ref: torch.Tensor | None = None

    def on_fit_start(self, state: State) -> None:
        self._ref = predict(self.teacher, self.val_x)
        if not self.scores:  # epoch 0 (a resumed run has it already): the student as given is a candidate
            self._record(state.model, 0)

    def on_epoch_end(self, state: State) -> None:
        self._record(state.model, state.epoch + 1)

    def finalize(self, state: State) -> None:
        if self.best is not None:
            state.model.load_state_dict(self.best)
        return None

    def report(self) -> dict[str, Any]:
        """The kept epoch and every epoch's validation fidelity."""
        return {
            "kept_epoch": self.best_epoch,
            "stopped_early": self.stop_training,
            "val_rows": len(self.val_x),
            "val_fidelity": [{"epoch": i, **s} for i, s in enumerate(self.scores)],
        }

    def state_dict(self) -> dict[str, Any]:
        best = {k: v.detach().cpu() for k, v in (self.best or {}).items()}
        return {"scores": self.scores, "best_epoch": self.best_epoch, "bad": self.bad, "best": best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scores = [dict(s) for s in state.get("scores", [])]
        self.best_epoch, self.bad = int(state.get("best_epoch", 0)), int(state.get("bad", 0))
        self.best = dict(state["best"]) if state.get("best") else None
        self.stop_training = self.patience is not None and self.bad >= self.patience

    def _record(self, model: nn.Module, epoch: int) -> None:
        scores = fidelity_scores(predict(model, self.val_x), self._ref, self.kind)
        while len(self.scores) > epoch:  # an epoch redone after a resume replaces its old score
            self.scores.pop()
        self.scores.append(scores)
        top = self.scores[self.best_epoch] if self.best is not None else None
        if better(scores, top, self.kind, len(self.val_x)):
            self.best_epoch, self.bad = epoch, 0
            # a copy on the model's own device: snapshots cost no transfer per epoch
            self.best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad += 1
        self.stop_training = self.patience is not None and self.bad >= self.patience


def drive(student: nn.Module, data: Any, kd: Any, cfg: Any, fit: FitFn, eval_data: Any = None) -> tuple[nn.Module, Any]:
    """Train ``student`` from ``kd``'s teacher on ``data`` the way ``st.distill`` documents; see there.

    Returns:
        The model to use and the History of its last fit (evaluated on ``eval_data`` when it has labels).
    """
    x, y = skip(*as_rows(data), kd.cfg.skip_rows)
    labelled, alpha = has_labels(y), kd.cfg.alpha
    if not labelled and alpha != "auto" and alpha < 1:
        raise ConfigError(
            "alpha",
            f"got {alpha:g} but the data has no labels (all -1); allowed: 1.0 or 'auto' "
            "(label-free distillation), or give labelled data",
        )
    if labelled and (alpha == "auto" or (kd.cfg.compare and 0 < alpha)):
        from .compare import compare_alone

        return compare_alone(student, x, y, kd, cfg, fit, eval_data)
    if alpha == "auto":  # no labels: only the teacher can teach
        kd = type(kd)(kd.teacher, kd.cfg.replace(alpha=1.0))
    return recover(student, x, y if labelled else None, kd, cfg, fit, eval_data)


def skip(x: torch.Tensor, y: torch.Tensor | None, rows: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows after the first ``rows`` (``skip_rows``).

    Raises:
        ConfigError: fewer than 2 rows would remain (names ``skip_rows``).
    """
    if rows and len(x) - rows < 2:
        raise ConfigError(
            "skip_rows",
            f"{rows} of {len(x)} rows skipped leaves fewer than 2 to train and validate "
            "on; give more data or skip fewer rows",
        )
    return x[rows:], (y[rows:] if y is not None else None)


def recover(
    student: nn.Module, x: torch.Tensor, y: torch.Tensor | None, kd: Any, cfg: Any, fit: FitFn, eval_data: Any = None
) -> tuple[nn.Module, Any]:
    """Distil on all but a held-out split, keep the epoch of best validation fidelity, stop early."""
    train_rows, val_rows = holdout(len(x), kd.cfg.val_fraction, cfg.seed)
    kind = output_kind(kd, x[val_rows[:8]])
    tracker = BestEpoch(kd.teacher, x[val_rows], kind, kd.cfg.patience)
    mode = "labels" if y is not None else "label_free"
    if y is None:  # nothing to learn from but the teacher: the trainer's task loss is switched off
        y, cfg = torch.full((len(x),), -1, dtype=torch.long), cfg.replace(loss=no_task_loss)
    # a label-free student learns to match the teacher's function, which the teacher computes without dropout;
    # dropout only adds noise to that target (MiniLM's 0.1 doubled the training loss; MobileNetV2's 0.2 took a copy of
    # the teacher itself from 100% to 85% top-1 agreement in 4 steps)
    quiet = mode == "label_free"
    with dropout_off(student) if quiet else nullcontext({}) as rates:
        history = fit(
            student,
            ArrayDataset(x[train_rows], y[train_rows], "distill-train"),
            cfg,
            hooks=[kd, tracker],
            **evaluated_on(eval_data),
        )
    model = history.model if getattr(history, "model", None) is not None else student
    _set_rates(model, rates)  # the returned model may be a copy made while the rates were 0
    report = {
        "mode": mode,
        "kind": kind,
        "loss": kd.output_loss or kd.cfg.loss,
        "train_rows": len(train_rows),
        "skipped_rows": kd.cfg.skip_rows,
        "student_dropout": "off" if rates else "as set",
        **tracker.report(),
        **kd.hints_report(),
    }
    attach(model, report)
    return model, history


def _set_rates(model: nn.Module, rates: dict[str, float]) -> None:
    for name, m in model.named_modules():
        if name in rates and isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = rates[name]


@contextmanager
def dropout_off(model: nn.Module) -> Iterator[dict[str, float]]:
    """Every dropout module of ``model`` at rate 0 inside the block, its own rate back after it.

    Yields:
        The saved rates by module name (empty when the model has no dropout).
    """
    rates = {n: m.p for n, m in model.named_modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0}
    _set_rates(model, dict.fromkeys(rates, 0.0))
    try:
        yield rates
    finally:
        _set_rates(model, rates)


def output_kind(kd: Any, x: torch.Tensor) -> str:
    """ "encoder" or "classifier": from ``kd``'s loss when set, else from the teacher's outputs on ``x``."""
    if kd.cfg.loss in ("cosine", "mse"):
        return "encoder"
    if kd.cfg.loss == "kd":
        return "classifier"
    from .losses import auto_output_loss

    return "encoder" if auto_output_loss(predict(kd.teacher, x)) == "cosine" else "classifier"
