"""Quantization-aware training: a Hook that inserts fake quantization, trains through it with a
straight-through estimator (or LSQ learned scales), freezes observers and BN statistics after a
configurable epoch, and converts to a QuantizedModel at ``finalize``."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx import GraphModule, symbolic_trace
from torch.nn.utils import parametrize

from ..config import Config, ConfigError, check_range
from ..hooks import Hook, State, hook_config
from ..registry import HandlerContext, handler, register
from .convert import build_qmodel, prepare_float
from .fake import FakeQuant
from .fold import BN_TYPES, LAYER_TYPES, find_conv_bn_pairs
from .graph import act_of
from .int8 import Int8, effective_reduce_range, weight_bits
from .ptq import choose_backend

_ADDS = (operator.add, operator.iadd, torch.add)


@register("qat", kind="hook")
@dataclass(frozen=True)
class QATConfig(Config):
    """Quantization-aware training settings.

    Args:
        quant: the Int8 config the model is converted with (bits, per_channel, backend).
        freeze_epoch: after this many epochs the activation ranges and BN statistics stop updating.
        lsq: learn the activation scales (LSQ) instead of tracking them with a moving average.
    """

    quant: Int8 = field(default_factory=Int8)
    freeze_epoch: int = 1
    lsq: bool = False

    terminal = True  # converts to int8 at the end of training: nothing but measuring and export may follow

    def validate(self) -> None:
        check_range("freeze_epoch", self.freeze_epoch, 0)
        if not isinstance(self.quant, Int8):
            raise ConfigError("quant", f"must be an Int8 config, got {type(self.quant).__name__}")


class _WeightFQ(nn.Module):
    """Parametrization: fake-quantize the weight as it will be after BN folding (w * gamma/sigma),
    then unfold, so that conv -> BN(eval) computes exactly conv(x, q(w_folded)) + b_folded."""

    def __init__(self, bits: int, per_channel: bool, bn: nn.Module | None):
        super().__init__()
        self.fq = FakeQuant(bits, signed=True, symmetric=True, axis=0 if per_channel else None, observer="minmax")
        self.bn = [bn]  # a list: not a submodule (the BN stays where it is)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        bn = self.bn[0]
        f = None
        if bn is not None:
            f = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) * (bn.running_var + bn.eps).rsqrt()
            f = f.detach().reshape(-1, *[1] * (w.dim() - 1))
            w = w * f
        self.fq.observer.lo = self.fq.observer.hi = None  # weights: the current range, every step
        w = self.fq(w)
        return w / f if f is not None else w


class QAT(Hook):
    """Hook for ``st.fit``: trains with fake quantization and returns the converted int8 model.

    Args:
        cfg: the settings (quant, freeze_epoch, lsq; see :class:`QATConfig`), or just the ``Int8``
            config to convert with (``st.QAT(st.Int8(weight_bits=4))``, the other settings by name).
        **fields: the settings by name, when ``cfg`` is None or an ``Int8``.

    Raises:
        TypeError: ``cfg`` is neither a QATConfig nor an Int8, or a QATConfig and fields together.
        ConfigError: a setting out of range (named by the config).

    Example:
        >>> history = st.fit(model, train, cfg, hooks=[st.QAT(st.Int8(weight_bits=4), freeze_epoch=2)])
        >>> qmodel = history.model
        >>> hook = st.QAT(st.QATConfig(freeze_epoch=2, lsq=True))
    """

    def __init__(self, cfg: QATConfig | Int8 | None = None, **fields: Any):
        if isinstance(cfg, Int8):  # the conversion's config, as st.QAT(st.Int8(...)) has always read
            cfg, fields = None, {"quant": cfg, **fields}
        self.cfg = hook_config(QATConfig, cfg, fields)
        self.original: nn.Module | None = None
        self.gm: GraphModule | None = None
        self.fqs: dict[str, FakeQuant] = {}
        self.frozen = False

    def _fq(self) -> FakeQuant:
        bits = 7 if effective_reduce_range(self.cfg.quant) == "activations" else 8
        return FakeQuant(bits, signed=False, symmetric=False, observer="moving_average", lsq=self.cfg.lsq)

    def on_fit_start(self, state: State) -> None:
        model = state.model
        self.original = model
        pairs = dict(find_conv_bn_pairs(model))
        wbits = weight_bits(self.cfg.quant)
        for name, mod in model.named_modules():
            if isinstance(mod, LAYER_TYPES) and not parametrize.is_parametrized(mod, "weight"):
                bn = model.get_submodule(pairs[name]) if name in pairs else None
                fq = _WeightFQ(wbits, self.cfg.quant.per_channel, bn).to(mod.weight.device)  # runs at registration
                parametrize.register_parametrization(mod, "weight", fq)
        gm = symbolic_trace(model)
        mods = dict(gm.named_modules())
        for node in list(gm.graph.nodes):
            key = None
            if node.op == "placeholder":
                key = node.name
            elif node.op == "call_module" and isinstance(mods.get(node.target), LAYER_TYPES):
                key = node.name
            elif node.op == "call_function" and node.target in _ADDS and all(
                    isinstance(a, torch.fx.Node) for a in node.args[:2]) and len(node.args) == 2:
                key = node.name
            if key is None:
                continue
            end = _chain_end(node, mods)
            fq = self._fq()
            self.fqs[key] = fq
            gm.add_submodule(f"qat_{key}", fq)
            with gm.graph.inserting_after(end):
                new = gm.graph.call_module(f"qat_{key}", (end,))
            end.replace_all_uses_with(new)
            new.args = (end,)
        gm.recompile()
        self.gm = gm.to(state.device)
        state.model = self.gm

    def on_epoch_end(self, state: State) -> None:
        if not self.frozen and state.epoch + 1 >= self.cfg.freeze_epoch:
            self._freeze()

    def _freeze(self) -> None:
        self.frozen = True
        for fq in self.fqs.values():
            fq.freeze()
        for mod in self.original.modules():
            if isinstance(mod, BN_TYPES):  # use the running statistics from now on, in train mode too
                mod.forward = _frozen_bn(mod)

    def finalize(self, state: State) -> nn.Module:
        """Remove the fake quantization and convert the trained model to int8 (returned)."""
        model = self.original
        act = {k: (fq.scale.detach().abs().cpu(), fq.zero_point.cpu()) for k, fq in self.fqs.items()}
        for mod in model.modules():
            if isinstance(mod, LAYER_TYPES) and parametrize.is_parametrized(mod, "weight"):
                parametrize.remove_parametrizations(mod, "weight", leave_parametrized=False)
            if isinstance(mod, BN_TYPES) and "forward" in mod.__dict__:
                del mod.forward
        model.cpu()
        m, ops = prepare_float(model)
        x = state.inputs.detach().cpu() if isinstance(state.inputs, torch.Tensor) else None
        missing = [op["out"] for op in ops if op["op"] in ("input", "conv", "linear", "add") and op["out"] not in act]
        if missing:
            raise ValueError(f"QAT: no trained activation range for {missing}; was the model changed after fit?")
        qm = build_qmodel(m, ops, act, self.cfg.quant)
        if x is not None:
            from .calibrate import float_impl
            from .interp import run_ops

            with torch.no_grad():
                run_ops(qm.ops, x, float_impl(m))  # records the input/output shapes (ONNX export)
        choose_backend(qm, self.cfg.quant.backend if x is not None else "integer", x)
        qm.record(m)
        return qm

    def state_dict(self) -> dict[str, Any]:
        return {"frozen": self.frozen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("frozen") and not self.frozen:
            self._freeze()


def _chain_end(node, mods):
    """The last node of layer -> [BN] -> [ReLU/ReLU6] (each link the single user of the previous)."""
    end = node
    users = list(end.users)
    if len(users) == 1 and users[0].op == "call_module" and isinstance(mods.get(users[0].target), BN_TYPES):
        end = users[0]
        users = list(end.users)
    if len(users) == 1 and act_of(users[0], mods) is not None:
        end = users[0]
    return end


def _frozen_bn(bn: nn.Module):
    def forward(x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return forward


@handler(QATConfig)
def _qat_handler(model: nn.Module, cfg: QATConfig, ctx: HandlerContext) -> QAT:
    return QAT(cfg)
