"""Inputs a model cannot take, as one line that names what does not fit and what to do.

torch's own words ("mat1 and mat2 shapes cannot be multiplied (1x64 and 784x128)") speak of the
model's insides; the user chose a dataset or a shape, so the line compares the samples' shape with
the shape the model was saved with (or what its first layer takes) and says which flag to change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import ConfigError


def check_inputs(model: Any, example: Any, flag: str, expected: list[int] | None = None, source: str = "",
                 why: str = "the input shape saved with it",
                 advice: str | Callable[[BaseException], str | None] | None = None) -> None:
    """One forward pass on one row of ``example``; inputs the model cannot take are one ConfigError line.

    Any exception counts (a quantized model runs ONNX Runtime, whose errors are not RuntimeErrors).

    Args:
        model: the model, in the mode it should be checked in.
        example: a batch of inputs (the first row is used).
        flag: the flag the inputs came from, named in the error (``--data``, ``--input-shape``).
        expected: the per-sample input shape recorded with the model (``model.json`` extra), if any.
        source: what gave the inputs, for the message (e.g. ``digits``); empty: the flag's value.
        why: where ``expected`` comes from, for the message.
        advice: what to do instead, when the caller knows better than the default advice (or a function of
            the error that says it, called only on a failure; None from it: the default advice).

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
        advice = advice(err) if callable(advice) else advice
        raise ConfigError(flag, mismatch(model, list(example.shape[1:]), flag, expected, source, err, why,
                                         advice)) from None


def mismatch(model: Any, got: list[int], flag: str, expected: list[int] | None, source: str,
             err: BaseException, why: str = "the input shape saved with it", advice: str | None = None) -> str:
    """The message of :func:`check_inputs` (without the flag)."""
    what = f"the model rejects inputs of shape {got} per sample" + (f" from {source}" if source else "")
    if expected and list(expected) != got:
        return f"{what}: it takes {list(expected)} ({why}); " + (advice or _advice(flag, expected, source))
    words = f" ({type(err).__name__}: {first_words(err)})"
    advice = advice or _advice(flag, None, source)
    layer = first_layer(model)
    takes = f"; its first layer {layer}" if layer else ""
    return f"{what}{takes}{'' if words in advice else words}; {advice}"  # torch's words once, not twice


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


def zoo_advice(name: str, expected: list[int] | None, got: list[int], source: str) -> str | None:
    """The flags that fit zoo model ``name`` (built without arguments it takes ``expected``) to samples of
    shape ``got``, checked by building the model so and running it on one such sample, e.g.
    ``add --model-arg in_channels=3 --data-option size=28`` for LeNet-5 on photos; None when no flags can.

    Example:
        >>> zoo_advice("lenet5", [1, 28, 28], [3, 224, 224], "images:photos")
        'add --model-arg in_channels=3 --data-option size=28'
    """
    import math

    import torch

    from .. import models

    if not expected or name not in models.names():
        return None
    args, kwargs, shape, flags = models.signature(name), {}, list(got), []
    if len(expected) == 1 and "in_features" in args:
        kwargs["in_features"] = math.prod(got)
    if len(expected) == len(got) == 3 and expected[0] != got[0] and "in_channels" in args:
        kwargs["in_channels"] = got[0]
    if len(expected) == len(got) == 3 and expected[1:] != got[1:] and source.startswith("images:") \
            and expected[1] == expected[2]:
        shape[1:] = expected[1:]
        flags.append(f"--data-option size={expected[1]}")
    if not flags and not kwargs:
        return None
    try:  # the advice must work: the model built with it takes such a sample
        with torch.no_grad():
            models.build(name, **kwargs).eval()(torch.zeros(1, *shape))
    except Exception:  # noqa: BLE001 - any failure: these flags are not enough, give no advice
        return None
    return "add " + " ".join([*(f"--model-arg {k}={v}" for k, v in kwargs.items()), *flags])


def zoo_fit_advice(name: str, expected: list[int] | None, got: list[int], source: str,
                   err: BaseException | None = None) -> str:
    """:func:`zoo_advice`, else what to change for a zoo model that is not trained yet (not its training data),
    with torch's words (``err``) for whoever can read them: no flag alone fits these."""
    found = zoo_advice(name, expected, got, source)
    if found:
        return found
    why = f" ({type(err).__name__}: {first_words(err)})" if err is not None else ""
    if expected:
        return f"give --data with samples of shape {expected}, or a zoo model (or --model-arg) that takes {got}{why}"
    return f"give --model-arg values that make {name} take samples of shape {got}{why}"


def first_words(err: BaseException) -> str:
    """The first three lines of ``err`` as one (its type name when it has no message)."""
    return " ".join(line.strip() for line in str(err).splitlines()[:3]) or type(err).__name__
