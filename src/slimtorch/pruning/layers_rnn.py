"""Surgery entries for recurrent layers (nn.GRU, nn.LSTM, nn.RNN): their hidden units are channels.

A hidden unit owns one row in each gate block of every weight of its layer (``r|z|n`` for a GRU,
``i|f|g|o`` for an LSTM) and one column of the recurrent weight; the next layer's input weight reads it
too. Removing unit ``j`` removes all of them, and the recurrence never sees ``h_j`` again: the same as
the original with every weight that reads ``h_j`` zeroed (the verifier's masked original). One
``hidden_size`` serves every layer, so unit ``j`` of each layer leaves together. Kept whole (the
trace blocks them, with a warning): bidirectional or projected layers, packed sequences, and a call
that passes an initial state (its units come from outside).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import _first
from .surgery import _TABLE, Surgery

MAX_LAYERS = 64  # roles "h0".."h63": a static list the verifier reads (which roles read channels)


def _gates(m: nn.RNNBase) -> int:
    return 4 if isinstance(m, nn.LSTM) else 3 if isinstance(m, nn.GRU) else 1


def _rnn_trace(tr, name, m, args, kwargs, out):
    x = _first(args, kwargs)
    if not isinstance(x, torch.Tensor):
        raise TypeError("a packed sequence")
    if m.bidirectional or getattr(m, "proj_size", 0) or m.num_layers > MAX_LAYERS:
        raise TypeError("a bidirectional, projected or very deep recurrent layer")
    if (len(args) > 1 and args[1] is not None) or kwargs.get("hx") is not None:
        raise TypeError("an initial hidden state is passed")
    tr.slot(name, "in", tr.channels(x, -1))
    hidden = [tr.new(m.hidden_size, name, f"h{k}") for k in range(m.num_layers)]
    for k, lab in enumerate(hidden):
        tr.union(hidden[0], lab)  # one hidden_size for every layer
        tr.slot(name, f"h{k}", lab)
    y, state = out
    tr.set(y, {y.dim() - 1: hidden[-1]})
    if m.num_layers == 1:  # with several layers h_n's rows hold different layers: left untracked
        for s in state if isinstance(state, tuple) else (state,):
            tr.set(s, {s.dim() - 1: hidden[0]})


def _rnn_params(m):
    spec = {}
    for k in range(m.num_layers):
        rows = [(0, (f"h{k}",) * _gates(m))]
        spec[f"weight_ih_l{k}"] = rows + [(1, ("in" if k == 0 else f"h{k - 1}",))]
        spec[f"weight_hh_l{k}"] = rows + [(1, (f"h{k}",))]
        if m.bias:
            spec[f"bias_ih_l{k}"] = spec[f"bias_hh_l{k}"] = rows
    return spec


def _rnn_update(m, keep):
    if "in" in keep:
        m.input_size = len(keep["in"])
    if "h0" in keep:
        m.hidden_size = len(keep["h0"])
    return m


# every role reads channels: a removed unit's rows and columns are zeroed in the masked original
rnn = Surgery(_rnn_trace, _rnn_params, ("in",) + tuple(f"h{k}" for k in range(MAX_LAYERS)), _rnn_update)
for _cls in (nn.GRU, nn.LSTM, nn.RNN):
    _TABLE[_cls] = rnn
