"""The refusal of a model that a quantization or export path cannot handle: one line naming what and what to use."""

from __future__ import annotations

DYNAMIC_HINT = "st.DynamicInt8() quantizes the Linear layers of any model"


class UnsupportedModelError(ValueError):
    """A model (an op of it, or its Python control flow) that this path cannot handle.

    A ``ValueError``, so callers that refuse bad input by catching one (the CLI: one line, exit 2) keep working.

    Attributes:
        who: the refusing call (``quantize``, ``export_onnx``, ``fold_batchnorm``).
        reason: what is wrong and what is allowed, without ``who``.
    """

    def __init__(self, who: str, reason: str):
        self.who, self.reason = who, " ".join(reason.splitlines())  # one line; third-party text: one_line()
        super().__init__(f"{who}: {self.reason}")


def one_line(text: str, limit: int = 240) -> str:
    """The first line of ``text``, cut to ``limit`` characters (third-party errors append graphs and advice)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def first_sentence(text: str) -> str:
    """The first sentence of the first line of ``text`` (torch.fx appends paragraphs of advice after it)."""
    first = one_line(text, 10_000)
    return first.split(". ", 1)[0]
