"""Multi-layer perceptron: Flatten, then Linear [-> BatchNorm1d] -> activation [-> Dropout] per hidden layer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from .zoo import register_model

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "identity": nn.Identity,
}


def make_activation(name: str, field: str = "activation") -> nn.Module:
    """A fresh activation module by name.

    Raises:
        ValueError: unknown name (lists the allowed ones).
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"{field}={name!r} is not known; allowed: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Sequential):
    """Fully connected network; children are named ``flatten, fc1, bn1, act1, drop1, ..., fcK[, out_act]``."""

    def __init__(self, widths: Sequence[int], activation: str = "relu", batchnorm: bool = False,
                 dropout: float = 0.0, output_activation: str | None = None):
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"widths must list >= 2 positive sizes [in, hidden..., out], got {widths}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        last = len(widths) - 1
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            layers[f"fc{i}"] = nn.Linear(a, b)
            if i == last:
                break
            if batchnorm:
                layers[f"bn{i}"] = nn.BatchNorm1d(b)
            layers[f"act{i}"] = make_activation(activation)
            if dropout > 0:
                layers[f"drop{i}"] = nn.Dropout(dropout)
        if output_activation is not None:
            layers["out_act"] = make_activation(output_activation, "output_activation")
        super().__init__(layers)



@register_model("mlp")
def mlp(widths: Sequence[int] = (784, 256, 10), activation: str = "relu", batchnorm: bool = False,
        dropout: float = 0.0, output_activation: str | None = None) -> MLP:
    """MLP with layer sizes ``widths = [in, hidden..., out]``; the input is flattened first.

    Args:
        widths: layer sizes, input first.
        activation: hidden activation (relu, tanh, sigmoid, gelu, silu, leaky_relu, elu, identity).
        batchnorm: BatchNorm1d after each hidden Linear (before the activation).
        dropout: dropout probability after each hidden activation.
        output_activation: optional activation on the output (e.g. "sigmoid" for a BCE-free XOR net).
    """
    return MLP(widths, activation, batchnorm, dropout, output_activation)
