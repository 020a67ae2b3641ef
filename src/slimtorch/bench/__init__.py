"""Measuring primitives shared by the library, the CLI and every benchmark.

``evaluate`` (accuracy/loss), ``latency.compare`` (interleaved timing), ``count_*`` and
``saved_bytes`` (size and work), ``measure`` (all of it in one printable :class:`Report`).
"""

from . import latency, machine
from .counts import count_macs, count_nonzero, count_params, saved_bytes
from .evaluate import evaluate
from .latency import compare, threads_note
from .measure import KEYS, Report, measure, per_layer

__all__ = ["KEYS", "Report", "compare", "count_macs", "count_nonzero", "count_params", "evaluate", "latency", "machine",
           "measure", "per_layer", "saved_bytes", "threads_note"]
