"""Lower a (BN-folded) float model to a flat list of quantizable ops with torch.fx.

Each op is a JSON-able dict ``{"op", "name", "in", "out", ...}``; the value names are fx node
names. Values produced by conv/linear/add (after a fused ReLU/ReLU6) and the model input get their
own activation scale ("quantization points"); pooling, flatten and standalone ReLUs keep their
input's scale, so that they run directly on integers.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx import symbolic_trace

from .errors import UnsupportedModelError, first_sentence

QPOINT_OPS = ("input", "conv", "linear", "add")
_RELU_FNS = (F.relu, torch.relu, torch.relu_)
_ADD_FNS = (operator.add, operator.iadd, torch.add)
_FLATTEN_FNS = (torch.flatten,)


def _pair(v) -> list[int]:
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def act_of(node, mods) -> str | None:
    """'relu' / 'relu6' when ``node`` is an activation we can fuse or run on integers."""
    if node.op == "call_module":
        m = mods[node.target]
        if isinstance(m, nn.ReLU):
            return "relu"
        if isinstance(m, nn.ReLU6) or (isinstance(m, nn.Hardtanh) and m.min_val == 0.0 and m.max_val == 6.0):
            return "relu6"
    if node.op == "call_function":
        if node.target in _RELU_FNS:
            return "relu"
        if node.target is F.relu6:
            return "relu6"
        if node.target is F.hardtanh and node.args[1:3] == (0.0, 6.0):
            return "relu6"
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return "relu"
    return None


def _module_op(node, m: nn.Module) -> dict | None:
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise UnsupportedModelError("quantize", f"conv {node.target!r} uses padding {m.padding!r}/"
                                        f"{m.padding_mode!r}; only numeric zero padding is supported")
        return {"op": "conv", "module": node.target, "stride": _pair(m.stride), "padding": _pair(m.padding),
                "dilation": _pair(m.dilation), "groups": m.groups}
    if isinstance(m, nn.Linear):
        return {"op": "linear", "module": node.target}
    if isinstance(m, nn.MaxPool2d):
        return {"op": "maxpool", "kernel": _pair(m.kernel_size), "stride": _pair(m.stride or m.kernel_size),
                "padding": _pair(m.padding), "dilation": _pair(m.dilation), "ceil_mode": bool(m.ceil_mode)}
    if isinstance(m, nn.AvgPool2d):
        k, s = _pair(m.kernel_size), _pair(m.stride or m.kernel_size)
        if _pair(m.padding) != [0, 0]:
            raise UnsupportedModelError("quantize", f"avg pool {node.target!r} with padding is not supported")
        return {"op": "avgpool", "kernel": k, "stride": s}
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return {"op": "adaptive_avgpool", "output_size": _pair(m.output_size)}
    if isinstance(m, nn.Flatten):
        return {"op": "flatten", "start_dim": m.start_dim, "end_dim": m.end_dim}
    if isinstance(m, (nn.Identity, nn.Dropout)):
        return {"op": "identity"}
    return None


def _function_op(node) -> dict | None:
    t = node.target
    if node.op == "call_function":
        if t in _ADD_FNS and len(node.args) == 2 and all(isinstance(a, torch.fx.Node) for a in node.args):
            return {"op": "add"}
        if t in _FLATTEN_FNS:
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            return {"op": "flatten", "start_dim": start, "end_dim": -1}
        if t is F.adaptive_avg_pool2d:
            return {"op": "adaptive_avgpool", "output_size": _pair(node.args[1])}
        if t is F.max_pool2d:
            k = _pair(node.args[1])
            s = _pair(node.args[2] if len(node.args) > 2 else node.kwargs.get("stride") or k)
            return {"op": "maxpool", "kernel": k, "stride": s, "padding": [0, 0], "dilation": [1, 1],
                    "ceil_mode": False}
        if t is F.dropout:
            return {"op": "identity"}
    if node.op == "call_method" and t == "flatten":
        return {"op": "flatten", "start_dim": node.args[1] if len(node.args) > 1 else 0, "end_dim": -1}
    return None


def lower(model: nn.Module) -> list[dict]:
    """Trace ``model`` and return its op list (identity ops removed, ReLU/ReLU6 fused where possible).

    Raises:
        UnsupportedModelError: untraceable model or an op with no integer implementation (named in the message).
    """
    try:
        gm = symbolic_trace(model)
    except Exception as err:  # fx raises many types for data-dependent control flow
        why = first_sentence(str(err))
        raise UnsupportedModelError("quantize", f"cannot trace {type(model).__name__} with torch.fx ({why}); "
                                    "use st.DynamicInt8 for models that do not trace") from None
    mods = dict(gm.named_modules())
    for node in list(gm.graph.nodes):  # drop identities first so that conv -> (folded BN) -> relu fuses
        is_id = node.op == "call_module" and isinstance(mods[node.target], (nn.Identity, nn.Dropout))
        if is_id or (node.op == "call_function" and node.target is F.dropout):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    alias: dict[str, str] = {}
    ops: list[dict] = []
    fused: set[str] = set()
    for node in gm.graph.nodes:
        if node.name in fused:
            continue
        args = [alias.get(a.name, a.name) for a in node.all_input_nodes]
        if node.op == "placeholder":
            if ops:
                raise UnsupportedModelError("quantize", "models with more than one input are not supported")
            ops.append({"op": "input", "name": node.name, "in": [], "out": node.name})
            continue
        if node.op == "output":
            ops.append({"op": "output", "name": "output", "in": args, "out": ""})
            continue
        act = act_of(node, mods)
        if act is not None:
            op = {"op": act}
        elif node.op == "call_module":
            op = _module_op(node, mods[node.target])
        else:
            op = _function_op(node)
        if op is None:
            what = node.target if node.op != "call_module" else type(mods[node.target]).__name__
            what = f"op {getattr(what, '__name__', what)!s}"
            if node.op == "call_function" and node.target in _ADD_FNS:
                what = "add of a tensor and a constant"
            elif node.op == "call_function" and node.target is getattr and len(node.args) > 1:
                what = f"reading a tensor's .{node.args[1]}"  # shapes read in forward: view/reshape follow
            elif node.op == "call_function" and node.target is operator.getitem:
                what = "indexing or slicing (getitem)"
            raise UnsupportedModelError("quantize", f"{what} (node {node.name!r}) has no int8 implementation; "
                                        "supported: conv2d, linear, relu, relu6, add of two tensors, max/avg pool, "
                                        "flatten")
        if op["op"] == "identity":
            alias[node.name] = args[0]
            continue
        out = node.name
        if op["op"] in ("conv", "linear", "add"):
            users = list(node.users)
            if len(users) == 1 and act_of(users[0], mods) is not None:
                op["act"] = act_of(users[0], mods)
                fused.add(users[0].name)
                alias[users[0].name] = node.name
            else:
                op["act"] = None
        op.update(name=node.name, out=out, **{"in": args})
        ops.append(op)
    return ops


def qpoint_of(ops: list[dict]) -> dict[str, str]:
    """Map each value name to the quantization point whose scale it uses."""
    src: dict[str, str] = {}
    for op in ops:
        if op["op"] == "output":
            continue
        src[op["out"]] = op["out"] if op["op"] in QPOINT_OPS else src[op["in"][0]]
    return src


def float_values(ops: list[dict]) -> set[str]:
    """The values that stay float where layers were kept in float (``op["float"]``): a float layer's output and
    what is computed from a float value (an add with a float input, activations, pools, flatten); the model
    input when every op reading it is a float layer. An int8 layer quantizes a float input with the scale of
    its quantization point, so a run of float layers, residual adds included, runs entirely in float."""
    readers: dict[str, list[dict]] = {}
    for op in ops:
        for v in op["in"]:
            readers.setdefault(v, []).append(op)
    out: set[str] = set()
    for op in ops:
        kind = op["op"]
        if kind == "input":
            reads = readers.get(op["out"], [])
            if reads and all(r["op"] in ("conv", "linear") and r.get("float") for r in reads):
                out.add(op["out"])
        elif kind in ("conv", "linear"):
            if op.get("float"):
                out.add(op["out"])
        elif kind != "output" and any(v in out for v in op["in"]):
            out.add(op["out"])
    return out
