"""Distill: a Hook that adds a teacher's knowledge to the student's loss (Hinton et al. 2015, FitNets, AT).

With ``st.fit`` the trainer minimises ``(1 - alpha) * task_loss + extra_loss`` where ``extra_loss`` is
``alpha * T² * KL(teacher ‖ student)`` plus ``feature_weight`` times each feature term. A hand-written
loop calls the same methods in the same order::

    kd = Distill(teacher, temperature=4.0, alpha=0.9)
    state = State(model=student, optimizer=opt)
    kd.on_fit_start(state)
    for epoch in range(epochs):
        for idx, (x, y) in batches:
            state.inputs, state.targets, state.indices = x, y, idx
            kd.on_step_start(state)
            state.outputs = student(x)
            loss = kd.task_loss_weight * F.cross_entropy(state.outputs, y) + kd.extra_loss(state)
            opt.zero_grad(); loss.backward(); kd.after_backward(state); opt.step(); kd.on_step_end(state)
        kd.on_epoch_end(state)
    kd.finalize(state)

Adapters (feature widths that differ, e.g. after channel pruning) are created at the first step, when the
activation shapes are known. They are trained by the hook's own copy of the student's optimizer (same class
and settings, the student's current learning rate), stepped in ``after_backward``; see adapter_optim.py for
why. The student model is never modified: its state_dict, ``st.save`` and other hooks see only the student,
and the adapters stay on this hook object after training. A hand-written loop passes its optimizer in
``state.optimizer`` and calls ``after_backward`` after ``loss.backward()``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import ConfigError
from ..devices import device_of, scalar_like
from ..encoders import pad_id as pad_id_of
from ..hooks import Hook, State, hook_config
from ..registry import HandlerContext, handler
from .adapter_optim import AdapterOptimizer
from .adapters import adapter_spec, build_adapter
from .cache import TeacherCache
from .config import FEATURE_LOSSES, OUTPUT_LOSSES, DistillConfig
from .features import FeatureTap, primary_tensor
from .hints import hint_pairs, token_mask
from .losses import attention_transfer_loss, auto_output_loss, embedding_loss, masked_hint_loss, soft_target_loss
from .report import distill_report
from .teacher import resolve_teacher

__all__ = ["FEATURE_LOSSES", "OUTPUT_LOSSES", "Distill", "make_distill"]


class Distill(Hook):
    """Knowledge distillation from a frozen teacher, as a training hook.

    In ``st.fit`` it trains once, as configured. ``st.distill(student, data, kd)`` drives it instead: without
    labels (alpha=1) it keeps the epoch of best validation fidelity to the teacher; with labels it keeps
    distillation only when it beats training the student alone on a validation split.

    Args:
        teacher: any ``nn.Module``; it runs in eval mode under ``torch.no_grad`` and is never updated.
        cfg: the settings (temperature, alpha, features, feature_loss, feature_weight, loss, cache;
            see :class:`DistillConfig`).
        **fields: or the same settings by name, when no ``cfg`` is given.

    Raises:
        TypeError: ``teacher`` is not a module, ``cfg`` is not a DistillConfig, or both ``cfg`` and fields given.
        ConfigError: a setting out of range (the message names the field and the allowed values).

    Example:
        >>> import slimtorch as st
        >>> kd = st.Distill(teacher, temperature=4.0, alpha=0.9)          # doctest: +SKIP
        >>> kd = st.Distill(teacher, st.DistillConfig(temperature=4.0))    # doctest: +SKIP
        >>> st.fit(student, train, st.TrainConfig(epochs=3), hooks=[kd])   # doctest: +SKIP
    """

    def __init__(self, teacher: nn.Module, cfg: DistillConfig | None = None, **fields: Any):
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
        self.cfg = hook_config(DistillConfig, cfg, fields)
        self.teacher = teacher
        try:  # hints name the teacher's blocks; a pruned student keeps the names
            hinted = hint_pairs(teacher, self.cfg.hints) if self.cfg.hints else {}
        except ValueError as err:
            raise ConfigError("hints", str(err).removeprefix("hints: ")) from None
        self._pairs = {**hinted, **(self.cfg.features or {})}
        self._pad: int | None = None
        self._terms: dict[str, list] = {}  # this epoch's detached loss terms (summed at the epoch's end)
        self.epoch_terms: list[dict[str, float]] = []  # per epoch: mean output term and mean hint term per step
        self.task_loss_weight = 1.0 - self.cfg.alpha if self.cfg.alpha != "auto" else 1.0  # auto: st.distill picks
        self.cache = TeacherCache() if self.cfg.cache else None
        self.adapters = nn.ModuleDict()  # keyed by student layer name with "." -> "__" (ModuleDict forbids dots)
        self.adapter_specs: dict[str, dict[str, Any]] = {}
        self.teacher_calls = 0
        self.last_loss: torch.Tensor | None = None
        self.report: dict[str, Any] | None = None  # set by drive (st.distill): what it kept and why
        self.history: Any = None  # set by drive: the History of its last fit
        self._student_tap = FeatureTap(list(self.features), role="student")
        self._teacher_tap = FeatureTap(list(self.features.values()), role="teacher")
        self.adapter_optimizer = AdapterOptimizer()
        # loss "auto" is decided on the first teacher outputs: cosine for unit-norm embeddings, else kd
        self.output_loss: str | None = None if self.cfg.loss == "auto" else self.cfg.loss

    @classmethod
    def from_config(cls, cfg: DistillConfig, baseline: nn.Module | None = None) -> Distill:
        """The hook ``cfg`` describes, its teacher resolved from ``cfg.teacher`` (see :func:`resolve_teacher`).

        Args:
            cfg: the settings; ``cfg.teacher`` names "baseline", a folder written by st.save or a zoo model.
            baseline: the trained model that ``teacher: baseline`` refers to (deep-copied).
        """
        return cls(resolve_teacher(cfg.teacher, baseline), cfg)

    @property
    def features(self) -> dict[str, str]:
        """The ``{"student.layer": "teacher.layer"}`` pairs of the hint losses: ``hints``' and ``features``."""
        return self._pairs

    def drive(self, student: nn.Module, data: Any, cfg: Any, fit: Any, eval_data: Any = None) -> nn.Module:
        """Train ``student`` with this hook the way ``st.distill`` does (validation split, best epoch or a
        comparison with the student trained alone); ``fit`` is ``st.fit``. See :func:`slimtorch.api.distill`.
        The report is also kept in ``self.report``, the History of the last fit in ``self.history``."""
        from .recovery import drive

        model, self.history = drive(student, data, self, cfg, fit, eval_data)
        self.report = distill_report(model)
        return model

    # -- hook methods ---------------------------------------------------------------------------------
    def on_fit_start(self, state: State) -> None:
        """Check the teacher is separate from the student and its optimizer, move it to the device, hook the layers."""
        if self.cfg.alpha == "auto":
            raise ConfigError(
                "alpha",
                "'auto' is chosen by st.distill (on a validation split); st.fit and "
                "hand-written loops need a number in [0, 1]",
            )
        self._check_separate(state)
        self.teacher.to(state.device).eval()
        self.adapters.to(state.device)
        self._teacher_tap.ensure(self.teacher)
        self._student_tap.ensure(state.model)
        self._pad = pad_id_of(state.model) if self.cfg.mask_padding else None

    def on_step_start(self, state: State) -> None:
        # Another hook (QAT) may have swapped student layers since the last step: re-hook them.
        self._student_tap.ensure(state.model)

    def extra_loss(self, state: State) -> torch.Tensor | None:
        """alpha · (soft-target or embedding term) + feature_weight · Σ feature terms, for this batch."""
        if state.outputs is None:
            raise ValueError("Distill.extra_loss: state.outputs is empty; run the student forward before extra_loss")
        if (self.cfg.alpha == 0 or self.cfg.loss == "none") and not self.features:
            return None  # nothing would use the teacher: skip its forward pass
        teacher = self._teacher_outputs(state)
        student_out = primary_tensor(state.outputs)
        total = student_out.new_zeros((), dtype=torch.float32)
        if self.cfg.alpha > 0 and self.cfg.loss != "none":
            term = self._output_term(student_out, teacher["logits"], state)
            self._terms.setdefault("output", []).append(term.detach())
            total = total + scalar_like(self.cfg.alpha, total) * term
        for s_name, t_name in self.features.items():
            s_feat = self._student_tap.values.pop(s_name, None)
            if s_feat is None:
                raise ValueError(f"features: student layer {s_name!r} did not run in this forward pass")
            term = self._feature_term(s_name, s_feat, teacher[f"feat:{t_name}"], state)
            self._terms.setdefault("hints", []).append(term.detach())
            total = total + scalar_like(self.cfg.feature_weight, total) * term
        self.last_loss = total.detach()  # a tensor: reading it as a float would sync a GPU every step
        return total

    def after_backward(self, state: State) -> None:
        """Update the adapters (gradients of this step are ready; the student's optimizer steps next)."""
        self.adapter_optimizer.step(self.adapters, state.optimizer)

    def on_epoch_end(self, state: State) -> None:
        """Keep the epoch's mean output term and mean hint term (per hint layer) in ``epoch_terms``."""
        if self._terms:  # one sync per epoch, not per step
            self.epoch_terms.append({k: round(float(torch.stack(v).float().mean()), 6) for k, v in self._terms.items()})
        self._terms = {}

    def hints_report(self) -> dict[str, Any]:
        """What the hint terms were: layer pairs, loss, weight, whether padding was left out, per-epoch means."""
        return {
            "hints": self.cfg.hints,
            "hint_layers": len(self.features),
            "feature_loss": self.cfg.feature_loss,
            "feature_weight": self.cfg.feature_weight,
            "padding_masked": self._pad is not None,
            "train_terms": [{"epoch": i + 1, **t} for i, t in enumerate(self.epoch_terms)],
        }

    def finalize(self, state: State) -> None:
        """Remove the forward hooks; the student is returned unchanged (adapters stay on this object)."""
        self._student_tap.remove()
        self._teacher_tap.remove()
        return None

    def state_dict(self) -> dict[str, Any]:
        tensors = {f"{k}.{n}": t.detach().cpu() for k, m in self.adapters.items() for n, t in m.state_dict().items()}
        return {
            "adapter_specs": {k: dict(v) for k, v in self.adapter_specs.items()},
            "adapters": tensors,
            "adapter_optimizer": self.adapter_optimizer.state_dict(),
            "teacher_calls": self.teacher_calls,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # on_fit_start has moved the teacher to the training device: rebuilt adapters go there too
        device = device_of(self.teacher)
        for name, spec in state.get("adapter_specs", {}).items():
            key = _key(name)
            if key not in self.adapters:
                self.adapters[key] = build_adapter(spec).to(device)
                self.adapter_specs[name] = dict(spec)
        tensors = state.get("adapters", {})
        for key, module in self.adapters.items():
            sub = {n.split(".", 1)[1]: t for n, t in tensors.items() if n.split(".", 1)[0] == key}
            if sub:
                module.load_state_dict(sub)
        self.teacher_calls = int(state.get("teacher_calls", self.teacher_calls))
        self.adapter_optimizer.load_state_dict(state.get("adapter_optimizer", {}))

    def parameters(self) -> list[nn.Parameter]:
        """The adapters' parameters (trained by the hook itself; listed for inspection)."""
        return list(self.adapters.parameters())

    # -- internals --------------------------------------------------------------------------------------
    def _check_separate(self, state: State) -> None:
        if self.teacher is state.model:
            raise ValueError("the teacher is the student itself; pass a copy (copy.deepcopy(model)) as the teacher")
        teacher_ids = {id(p) for p in self.teacher.parameters()}
        if teacher_ids & {id(p) for p in state.model.parameters()}:
            raise ValueError("teacher and student share parameters; pass a copy (copy.deepcopy) as the teacher")
        if state.optimizer is not None:
            in_opt = {id(p) for g in state.optimizer.param_groups for p in g["params"]}
            if teacher_ids & in_opt:
                raise ValueError("the optimizer holds teacher parameters; the teacher must stay frozen")

    def _teacher_outputs(self, state: State) -> dict[str, torch.Tensor]:
        if self.cache is not None:
            if state.indices is None:
                raise ValueError("Distill(cache=True) needs state.indices (the dataset rows of the batch)")
            hit = self.cache.get(state.indices, state.inputs)
            if hit is not None:
                return hit
        if self.teacher.training:  # something (a trainer calling .train() on all modules) flipped it back
            self.teacher.eval()
        self._teacher_tap.ensure(self.teacher)
        with torch.no_grad():
            out = self.teacher(state.inputs)
        self.teacher_calls += 1
        result = {"logits": primary_tensor(out).detach()}
        for t_name in self.features.values():
            result[f"feat:{t_name}"] = self._teacher_tap.values.pop(t_name).detach()
        if self.cache is not None:
            self.cache.put(state.indices, state.inputs, result)
        return result

    def _output_term(self, student: torch.Tensor, teacher: torch.Tensor, state: State) -> torch.Tensor:
        if self.output_loss is None:
            self.output_loss = auto_output_loss(teacher)
        if self.output_loss == "kd":
            return soft_target_loss(student, teacher, self.cfg.temperature)
        adapted = self._adapter("__output__", student, teacher, None, state)(student.float())
        return embedding_loss(adapted, teacher, self.output_loss)

    def _feature_term(self, name: str, s_feat: torch.Tensor, t_feat: torch.Tensor, state: State) -> torch.Tensor:
        if self.cfg.feature_loss == "attention":
            return attention_transfer_loss(s_feat, t_feat)
        layer = self._student_tap.module(state.model, name)
        adapted = self._adapter(name, s_feat, t_feat, layer, state)(s_feat.float())
        return masked_hint_loss(adapted, t_feat, token_mask(state.inputs, t_feat, self._pad))

    def _adapter(self, name: str, s: torch.Tensor, t: torch.Tensor, layer: nn.Module | None, state: State) -> nn.Module:
        key = _key(name)
        if key not in self.adapters:
            spec = adapter_spec(tuple(s.shape), tuple(t.shape), layer, name)
            self.adapters[key] = build_adapter(spec).to(s.device)
            self.adapter_specs[name] = spec
        return self.adapters[key]


def _key(name: str) -> str:
    return name.replace(".", "__")


@handler(DistillConfig)
def make_distill(model: nn.Module | None, cfg: DistillConfig, ctx: HandlerContext) -> Distill:
    """Registry handler: ``make_distill(student, cfg, HandlerContext(baseline=trained_model))`` -> a Distill hook.

    The student is not needed to build the hook; ``ctx.baseline`` is what ``teacher: baseline`` refers to.
    """
    return Distill.from_config(cfg, ctx.baseline)
