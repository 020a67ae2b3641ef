"""A ValueError that reaches the command line: bad input the library refused (one line, exit 2), or an
error slimtorch did not anticipate (one line that says so, exit 1); ``--debug`` / ``SLIMTORCH_DEBUG=1``
show the traceback of either, so that a real bug stays visible."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # src/slimtorch
DEBUG_ENV = "SLIMTORCH_DEBUG"


def debug_on(argv: list[str] | None) -> bool:
    """Whether the user asked for tracebacks: ``SLIMTORCH_DEBUG`` set (not 0) or ``--debug`` (before or after
    the command; read before parsing, so that an error of the parse itself can be shown too)."""
    if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
        return True
    words = sys.argv[1:] if argv is None else argv
    return "--debug" in words[: words.index("--")] if "--" in words else "--debug" in words


def raised_by(err: BaseException) -> str | None:
    """The module that raised ``err`` when it is outside slimtorch (torch, numpy, re, ...), else None."""
    tb = err.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        Path(tb.tb_frame.f_code.co_filename).resolve().relative_to(PACKAGE)
        return None
    except ValueError:
        return str(tb.tb_frame.f_globals.get("__name__") or tb.tb_frame.f_code.co_filename)


def value_error(err: ValueError) -> int:
    """Print ``err`` as one line; exit 2 when slimtorch raised it (a refusal of bad input, which names what
    is wrong), exit 1 when a library under it did (slimtorch did not check that input: maybe a bug)."""
    text = " ".join(line.strip() for line in str(err).splitlines()[:3]) or type(err).__name__
    origin = raised_by(err)
    if origin is None:
        print(f"slimtorch: error: {text}", file=sys.stderr)
        return 2
    print(f"slimtorch: error: {text} ({type(err).__name__} raised in {origin}, an input slimtorch did not check: "
          f"if your input looks right, this is a bug; --debug or {DEBUG_ENV}=1 shows the traceback)",
          file=sys.stderr)
    return 1
