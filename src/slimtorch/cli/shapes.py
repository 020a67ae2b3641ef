"""Inputs a model cannot take, as one line that names what does not fit and what to do.

torch's own words ("mat1 and mat2 shapes cannot be multiplied (1x64 and 784x128)") speak of the
model's insides; the user chose a dataset or a shape, so the line compares the samples' shape with
the shape the model was saved with (or what its first layer takes) and says which flag to change.
"""

from __future__ import annotations

from typing import Any

from ..config import ConfigError


def check_inputs(model: Any, example: Any, flag: str, expected: list[int] | None = None, source: str = "",
                 why: str = "the input shape saved with it", advice: str | None = None) -> None:
    """One forward pass on one row of ``example``; inputs the model cannot take are one ConfigError line.

    Any exception counts (a quantized model runs ONNX Runtime, whose errors are not RuntimeErrors).

    Args:
        model: the model, in the mode it should be checked in.
        example: a batch of inputs (the first row is used).
        flag: the flag the inputs came from, named in the error (``--data``, ``--input-shape``).
        expected: the per-sample input shape recorded with the model (``model.json`` extra), if any.
        source: what gave the inputs, for the message (e.g. ``digits``); empty: the flag's value.
        why: where ``expected`` comes from, for the message.
        advice: what to do instead, when the caller knows better than the default advice.

    Raises:
        ConfigError: the model rejects them (the message compares shapes and says what to give instead).

    Example:
        >>> check_inputs(lenet, torch.zeros(1, 1, 8, 8), "--data", [1, 28, 28], "digits")  # doctest: +SKIP
        ConfigError: --data: the model rejects inputs of shape [1, 8, 8] per sample from digits: it takes ...
    """
    import torch

    try:
        with torch.no_grad():
            model(example[:1])
    except Exception as err:  # noqa: BLE001 - any failure on the user's inputs is a bad-input line
        raise ConfigError(flag, mismatch(model, list(example.shape[1:]), flag, expected, source, err, why,
                                         advice)) from None


def mismatch(model: Any, got: list[int], flag: str, expected: list[int] | None, source: str,
             err: BaseException, why: str = "the input shape saved with it", advice: str | None = None) -> str:
    """The message of :func:`check_inputs` (without the flag)."""
    what = f"the model rejects inputs of shape {got} per sample" + (f" from {source}" if source else "")
    if expected and list(expected) != got:
        return f"{what}: it takes {list(expected)} ({why}); " + (advice or _advice(flag, expected, source))
    first = " ".join(line.strip() for line in str(err).splitlines()[:3]) or type(err).__name__
    layer = first_layer(model)
    takes = f"; its first layer {layer}" if layer else ""
    return f"{what}{takes} ({type(err).__name__}: {first}); {advice or _advice(flag, None, source)}"


def _advice(flag: str, expected: list[int] | None, source: str) -> str:
    """What to give instead: the recorded shape, through the flag the user can change."""
    shape = ",".join(map(str, expected)) if expected else None
    if flag == "--input-shape":
        return f"give --input-shape {shape}" if shape else "give --input-shape the per-sample shape it was trained on"
    if source.startswith("text:"):
        return f"text:FILE gives token ids, which only a text encoder (minilm) takes; give {flag} " + (
            f"with samples of shape {list(expected)}" if expected else "the kind of data the model was trained on")
    if not expected:
        return f"give {flag} the kind of data the model was trained on"
    photo = len(expected) == 3 and expected[0] == 3 and expected[1] == expected[2]
    if source.startswith("images:") and photo:
        return f"add --data-option size={expected[1]} (images:DIR crops photos to 224x224 unless told)"
    if source.startswith("images:"):
        return (f"images:DIR gives 3-channel square photos, which this model does not take; give {flag} with "
                f"samples of shape {list(expected)} (npz:FILE, csv:FILE or the dataset it was trained on)")
    return f"give {flag} with samples of shape {list(expected)} (the dataset it was trained on, or the same kind)"


def first_layer(model: Any) -> str | None:
    """What the first Conv/Linear/Embedding of ``model`` takes, e.g. ``conv1 (Conv2d) takes 1 channel(s)``."""
    import torch.nn as nn

    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return f"{name} ({type(module).__name__}) takes {module.in_channels} channel(s)"
        if isinstance(module, nn.Linear):
            return f"{name} ({type(module).__name__}) takes {module.in_features} features"
        if isinstance(module, nn.Embedding):
            return f"{name} (Embedding) takes token ids below {module.num_embeddings}"
    return None
