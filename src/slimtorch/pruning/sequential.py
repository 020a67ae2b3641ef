"""One pass through two traced copies of a network in lockstep, stopping at chosen layers.

Reconstruction needs, for each layer in order, the pruned network's input to it (after the layers
before it were already re-solved) and the original network's output of it. Capturing those by
running both networks from the input once per layer costs ~depth^2 forward layers. Here both
networks are traced with ``torch.fx`` and interpreted node by node on every calibration batch at
once: at a chosen layer ``visit`` sees the inputs and the original's outputs, may change the pruned
layer, and the pass then continues through the changed layer: ~depth layers in all. Values are
dropped as soon as their last reader has run, so the memory is a few feature maps of the whole
calibration set (per network), not all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn

Visit = Callable[[str, list[torch.Tensor], list[torch.Tensor]], None]


def trace(model: nn.Module) -> fx.Graph | None:
    """The model's fx graph, or None when it cannot be traced symbolically (the caller falls back)."""
    try:
        return fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001 - any tracing failure means "use the per-layer path"
        return None


def _fetch(model: nn.Module, target: str) -> Any:
    obj = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _same(a: fx.Graph, b: fx.Graph) -> bool:
    """Both graphs make the same calls in the same order (the pruned copy is the original, thinner)."""
    na, nb = list(a.nodes), list(b.nodes)
    return len(na) == len(nb) and all(x.op == y.op and x.target == y.target for x, y in zip(na, nb))


def _step(model: nn.Module, node: fx.Node, env: dict[fx.Node, list], batch: int) -> Any:
    """Node ``node`` of ``model`` on calibration batch ``batch`` (its inputs read from ``env``)."""
    args = fx.node.map_arg(node.args, lambda n: env[n][batch])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n][batch])
    if node.op == "call_module":
        return model.get_submodule(node.target)(*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    if node.op == "get_attr":
        return _fetch(model, node.target)
    raise ValueError(f"unexpected fx node {node.op}")  # placeholders and output are handled by walk


def walk(original: nn.Module, pruned: nn.Module, batches: list[torch.Tensor], stops: set[str],
         visit: Visit) -> bool:
    """Run both models on ``batches`` in lockstep, calling ``visit`` at each module named in ``stops``.

    ``visit(name, inputs, targets)`` gets, per batch, the pruned model's first input to the module and
    the original module's output, before the pruned module runs (so a change it makes is seen by
    every later layer). A module called twice is visited at its first call only.

    Returns:
        False (and nothing was visited) when the models cannot be traced to the same graph or take
        more than one input; the caller then uses another way.
    """
    g_orig, g_new = trace(original), trace(pruned)
    if g_orig is None or g_new is None or not _same(g_orig, g_new):
        return False
    nodes_o, nodes_n = list(g_orig.nodes), list(g_new.nodes)
    if sum(n.op == "placeholder" for n in nodes_n) != 1:
        return False
    last_use = {}
    for i, node in enumerate(nodes_n):
        for src in node.all_input_nodes:
            last_use[src.name] = i
    env_o: dict[fx.Node, list] = {}
    env_n: dict[fx.Node, list] = {}
    seen: set[str] = set()
    with torch.no_grad():
        for i, (no, nn_) in enumerate(zip(nodes_o, nodes_n)):
            if nn_.op == "output":
                break
            if nn_.op == "placeholder":
                env_o[no], env_n[nn_] = list(batches), list(batches)
                continue
            env_o[no] = [_step(original, no, env_o, b) for b in range(len(batches))]
            if nn_.op == "call_module" and nn_.target in stops and nn_.target not in seen:
                seen.add(nn_.target)
                first = nn_.all_input_nodes[0]
                visit(nn_.target, env_n[first], env_o[no])
            env_n[nn_] = [_step(pruned, nn_, env_n, b) for b in range(len(batches))]
            for src_o, src_n in zip(no.all_input_nodes, nn_.all_input_nodes):
                if last_use.get(src_n.name) == i:
                    env_o.pop(src_o, None)
                    env_n.pop(src_n, None)
    return True
