"""Named inputs and outputs for ONNX export: one tensor or Hugging Face-style keyword tensors in, one tensor out.

torch's exporter passes inputs positionally and fills a forward's unset defaults in as inputs, so
``BertModel`` exported with keyword tensors fails (``got multiple values for argument 'use_cache'``).
:class:`Exported` takes the tensors positionally, in a fixed order, and calls the model with keywords;
it returns the model's main output (``last_hidden_state``, ``logits`` or the first one), so the cache
and attention tuples of a ``ModelOutput`` never enter the graph.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
from torch import nn

Inputs = torch.Tensor | Mapping[str, torch.Tensor]
MAIN_OUTPUTS = ("last_hidden_state", "logits")  # in this order: a model with both is an encoder with a head


def as_named(example_inputs: Inputs) -> dict[str, torch.Tensor]:
    """The example as ``{name: tensor}``: a lone tensor is ``input``.

    Raises:
        ValueError: an empty mapping, or a value that is not a tensor.
    """
    if isinstance(example_inputs, torch.Tensor):
        return {"input": example_inputs}
    if not isinstance(example_inputs, Mapping) or not example_inputs:
        got = "an empty dict" if isinstance(example_inputs, Mapping) else type(example_inputs).__name__
        raise ValueError(f"export_onnx: example_inputs must be a tensor or a dict of named tensors (or a list of "
                         f"them, one per input shape), got {got}")
    bad = [k for k, v in example_inputs.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"export_onnx: example_inputs[{bad[0]!r}] is not a tensor; every value must be one")
    return {str(k): v for k, v in example_inputs.items()}


def as_examples(example_inputs: Inputs | list[Inputs]) -> list[dict[str, torch.Tensor]]:
    """Every example as ``{name: tensor}``: a list holds several (one per input shape), anything else is one.

    Raises:
        ValueError: an empty list, an example that :func:`as_named` refuses, or examples that differ in their
            input names, ranks or dtypes (only sizes may differ).
    """
    if not isinstance(example_inputs, list):
        return [as_named(example_inputs)]
    if not example_inputs:
        raise ValueError("export_onnx: example_inputs is an empty list; give a tensor, a dict of named tensors, "
                         "or a list of them (one per input shape)")
    examples = [as_named(e) for e in example_inputs]
    first = examples[0]
    for i, e in enumerate(examples[1:], 1):
        kinds = {k: (v.dim(), v.dtype) for k, v in e.items()}
        if kinds != {k: (v.dim(), v.dtype) for k, v in first.items()}:
            raise ValueError(f"export_onnx: example_inputs[{i}] has inputs {_kinds(e)}, example_inputs[0] has "
                             f"{_kinds(first)}; allowed: the same inputs, ranks and dtypes, sizes may differ")
    return examples


def _kinds(named: dict[str, torch.Tensor]) -> str:
    return ", ".join(f"{k} ({v.dim()}-D {str(v.dtype).removeprefix('torch.')})" for k, v in named.items())


def varying_dims(shapes: list[torch.Size]) -> list[int]:
    """The dims whose size differs between ``shapes`` (one tensor's shape per example, all of one rank)."""
    return [d for d in range(len(shapes[0])) if len({s[d] for s in shapes}) > 1]


def main_output(out) -> tuple[str, torch.Tensor]:
    """(name, tensor) of the output that is exported: ``last_hidden_state``/``logits`` of a ModelOutput or
    dict, else its first tensor; the first tensor of a tuple; a lone tensor is ``output``.

    Raises:
        ValueError: the model returned no tensor.
    """
    if isinstance(out, torch.Tensor):
        return "output", out
    if isinstance(out, Mapping):
        items = [(k, v) for k, v in out.items() if isinstance(v, torch.Tensor)]
        named = [(k, v) for k in MAIN_OUTPUTS for kk, v in items if kk == k]
        if named or items:
            return (named or items)[0]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return "output", out[0]
    raise ValueError(f"export_onnx: the model returned {type(out).__name__}; a tensor, a tuple or a dict of "
                     "tensors can be exported")


class Exported(nn.Module):
    """``model`` with positional tensor inputs (in ``names`` order) and its main output alone."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names
        try:
            params = inspect.signature(model.forward).parameters
        except (TypeError, ValueError):  # a forward without a Python signature takes no extra keywords
            params = {}
        self.params = tuple(params)  # the forward's parameter names
        # no cache tensors in the graph; a ModelOutput names its fields (a plain tuple would not)
        self.extra = {k: v for k, v in (("use_cache", False), ("return_dict", True)) if k in params and k not in names}

    def raw(self, *tensors: torch.Tensor):
        """What the model returns for these inputs (a lone ``input`` is passed positionally)."""
        if self.names == ["input"]:
            return self.model(tensors[0], **self.extra)
        return self.model(**dict(zip(self.names, tensors)), **self.extra)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return main_output(self.raw(*tensors))[1]


def input_axes(named: dict[str, torch.Tensor], examples: list[dict[str, torch.Tensor]] = ()) -> dict[str, dict]:
    """Dynamic axes of the inputs: dim 0 is the batch; dim 1 of a 2-D integer tensor (token ids, masks)
    is the sequence; any dim whose size differs between ``examples`` (image sides, float sequences)."""
    axes = {}
    for name, t in named.items():
        axes[name] = {0: "batch"}
        if t.dim() == 2 and not t.is_floating_point():
            axes[name][1] = "sequence"
        for d in varying_dims([e[name].shape for e in examples] or [t.shape]):
            axes[name].setdefault(d, f"{name}_dim{d}")
    return axes


def output_axes(out: torch.Tensor, named: dict[str, torch.Tensor], others: list[torch.Tensor] = ()) -> dict[int, str]:
    """Dynamic axes of the output: dim 0 is the batch; dim 1 of a 3-D or larger output is the sequence when
    the inputs have one of that length (token states and per-token logits; pooled outputs have no dim 1 to vary);
    any dim whose size differs between ``others`` (the outputs of every example, when several were given)."""
    seqs = {t.shape[1] for t in named.values() if t.dim() == 2 and not t.is_floating_point()}
    axes = {0: "batch"}
    if out.dim() >= 3 and out.shape[1] in seqs:
        axes[1] = "sequence"
    for d in varying_dims([o.shape for o in others]) if others else []:
        axes.setdefault(d, f"output_dim{d}")
    return axes


def other_shape(named: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The example at another batch size (one more row) and sequence length (one token fewer, or one more
    when there is one): the shapes the exported graph is checked on."""
    out = {}
    for name, t in named.items():
        t = t[torch.arange(len(t) + 1) % len(t)]  # cycles through the rows: the values stay valid inputs
        if t.dim() == 2 and not t.is_floating_point():
            length = t.shape[1]
            cols = torch.arange(length - 1) if length > 1 else torch.zeros(2, dtype=torch.long)
            t = t[:, cols]
        out[name] = t.contiguous()
    return out


__all__ = ["Exported", "Inputs", "as_examples", "as_named", "input_axes", "main_output", "other_shape", "output_axes",
           "varying_dims"]
