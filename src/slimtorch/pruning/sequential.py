"""Two traced copies of a network run in lockstep, batch by batch, up to each chosen layer in turn.

Reconstruction needs, for each layer in order, the pruned network's input to it (after the layers
before it were already re-solved) and the original network's output of it, summed over many
calibration batches. Both networks are traced with ``torch.fx`` and interpreted node by node. For
each chosen layer, one pass streams every batch from a checkpoint up to that layer and hands
``visit`` the (input, target) pairs one batch at a time, so memory does not grow with the rows.

The checkpoint is what both networks hold (the values later nodes still read) just before an
earlier chosen layer, for every batch of a pass - kept when it fits in ``memory`` bytes. Early
layers of a vision network have large feature maps but short prefixes (restarting from the inputs
is cheap); later ones have long prefixes but small maps (their checkpoint fits): the work stays
close to one pass through the network per pass of data, without holding the large maps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import fx, nn

Pairs = Iterator[tuple[torch.Tensor, torch.Tensor, Any]]  # (pruned input, original output, batch tag)
Visit = Callable[[str, Pairs], None]
MEMORY = 2 << 30  # bytes of cached activations (both networks, all batches of a pass) at most


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


class _Net:
    """One traced network: its nodes, their positions, and how to run node ``i`` on one batch's values."""

    def __init__(self, model: nn.Module, graph: fx.Graph):
        self.model, self.nodes = model, list(graph.nodes)
        self.pos = {n: i for i, n in enumerate(self.nodes)}

    def step(self, i: int, env: dict[int, Any]) -> Any:
        node = self.nodes[i]
        args = fx.node.map_arg(node.args, lambda n: env[self.pos[n]])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[self.pos[n]])
        if node.op == "call_module":
            return self.model.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "get_attr":
            return _fetch(self.model, node.target)
        raise ValueError(f"unexpected fx node {node.op}")  # placeholders and output are handled by walk


def _nbytes(env: dict[int, Any]) -> int:
    return sum(v.numel() * v.element_size() for v in env.values() if isinstance(v, torch.Tensor))


def walk(original: nn.Module, pruned: nn.Module, batches: Callable[[], Iterable[tuple[torch.Tensor, Any]]],
         stops: set[str], visit: Visit, memory: int = MEMORY) -> bool:
    """Call ``visit(name, pairs)`` at each module named in ``stops``, in execution order.

    Args:
        original, pruned: the model before pruning and the pruned copy (same graph, thinner layers).
        batches: a new pass over the calibration data: ``(input batch, tag)`` pairs (called again whenever
            a pass must restart from the inputs; it may draw new rows).
        stops: module names; a module called twice is visited at its first call only.
        visit: gets ``pairs``, which yields per batch (the pruned model's first input to the module, the
            original module's output, the batch's tag), computed as it is read, before the pruned module
            runs; a change ``visit`` makes to the pruned module is seen by every later layer.
        memory: bytes of cached activations at most (see the module docstring).

    Returns:
        False (and nothing was visited) when the models cannot be traced to the same graph or take
        more than one input; the caller then uses another way.
    """
    g_orig, g_new = trace(original), trace(pruned)
    if g_orig is None or g_new is None or not _same(g_orig, g_new):
        return False
    net_o, net_n = _Net(original, g_orig), _Net(pruned, g_new)
    if sum(n.op == "placeholder" for n in net_n.nodes) != 1:
        return False
    last_use: dict[int, int] = {}
    for i, node in enumerate(net_n.nodes):
        for src in node.all_input_nodes:
            last_use[net_n.pos[src]] = i
    at, seen = [], set()
    for i, node in enumerate(net_n.nodes):
        if node.op == "call_module" and node.target in stops and node.target not in seen:
            seen.add(node.target)
            at.append(i)
    start, cached = 0, None  # checkpoint: every batch's values before node ``start`` (None: the inputs)
    with torch.no_grad():
        for k in at:
            kept: dict[str, Any] = {"rows": [], "bytes": 0, "done": False}

            def pairs(k: int = k, start: int = start, cached: list | None = cached, kept: dict = kept) -> Pairs:
                for env_o, env_n, tag in cached if cached is not None else _inputs(net_n, batches()):
                    env_o, env_n = dict(env_o), dict(env_n)
                    for i in range(start, k):
                        _advance(net_o, net_n, i, env_o, env_n, last_use)
                    target = net_o.step(k, env_o)
                    if kept["rows"] is not None:
                        kept["bytes"] += _nbytes(env_o) + _nbytes(env_n)
                        if kept["bytes"] <= memory:
                            kept["rows"].append((env_o, env_n, tag))
                        else:  # too large to keep: a later pass restarts from the last checkpoint
                            kept["rows"] = None
                    yield env_n[net_n.pos[net_n.nodes[k].all_input_nodes[0]]], target, tag
                kept["done"] = True

            visit(net_n.nodes[k].target, pairs())
            if kept["done"] and kept["rows"]:
                start, cached = k, kept["rows"]
    return True


def _inputs(net: _Net, batches: Iterable[tuple[torch.Tensor, Any]]) -> Iterator[tuple[dict, dict, Any]]:
    first = next(i for i, n in enumerate(net.nodes) if n.op == "placeholder")
    for x, tag in batches:
        yield {first: x}, {first: x}, tag


def _advance(net_o: _Net, net_n: _Net, i: int, env_o: dict, env_n: dict, last_use: dict[int, int]) -> None:
    """Run node ``i`` of both networks on one batch; drop the values nothing after it reads."""
    if net_n.nodes[i].op in ("placeholder", "output"):
        return
    env_o[i], env_n[i] = net_o.step(i, env_o), net_n.step(i, env_n)
    for src in net_n.nodes[i].all_input_nodes:
        j = net_n.pos[src]
        if last_use.get(j) == i:
            env_o.pop(j, None)
            env_n.pop(j, None)
    if i not in last_use:  # read by nothing
        env_o.pop(i, None)
        env_n.pop(i, None)
