"""One call that measures everything a compression claim needs: accuracy, size, work, latency."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils import benchmark
from torch.utils.data import Dataset

from ..data.arrays import ArrayDataset
from ..devices import CPU, device_of, on_cpu, to_device
from .counts import count_macs, count_nonzero, count_params, module_tensor, saved_bytes
from .evaluate import evaluate
from .fidelity import fidelity, unlabeled
from .fidelity import rows as fidelity_rows
from .latency import MAX_SPREAD, Timing, doubts, summarize
from .limits import check_batch_sizes
from .machine import choose_threads, machine_load

KEYS = ("accuracy", "loss", "params", "nonzero_params", "bytes", "macs", "latency_ms", "latency", "threads",
        "per_layer")


class Report(dict):
    """The result of :func:`measure`: a plain dict (JSON-able) whose ``str()`` is a readable table."""

    def __str__(self) -> str:
        rows = [("accuracy", _fmt_pct(self.get("accuracy"))), ("loss", _fmt(self.get("loss"), ".4f")),
                ("params", _fmt(self.get("params"), ",")), ("nonzero params", _fmt(self.get("nonzero_params"), ",")),
                ("bytes (saved)", _fmt(self.get("bytes"), ",")), ("MACs / sample", _fmt(self.get("macs"), ","))]
        for batch, ms in (self.get("latency_ms") or {}).items():
            t = (self.get("latency") or {}).get(batch)
            extra = f" (min {t['min']:.3f}, IQR {t['iqr']:.3f})" if t else ""
            rows.append((f"latency batch {batch}", f"{ms:.3f} ms{extra}"))
        rows += fidelity_rows(self)
        rows.append(("threads", str(self.get("threads_note") or self.get("threads"))))
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        lines += [f"note: {n}" for n in self.get("notes", [])]
        layers = self.get("per_layer") or []
        if layers:
            lines += ["", _layer_table(layers)]
        return "\n".join(lines)


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _fmt_pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _layer_table(layers: list[dict[str, Any]]) -> str:
    header = ("layer", "type", "shape", "params", "sparsity")
    body = [(r["name"], r["type"], "x".join(map(str, r["shape"])), f"{r['params']:,}", f"{100 * r['sparsity']:.1f}%")
            for r in layers]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(f"{c:<{w}}" for c, w in zip(row, widths)).rstrip() for row in [header, *body])


def per_layer(model: nn.Module) -> list[dict[str, Any]]:
    """Shape, parameter count and sparsity (fraction of zeros) of every conv/linear-like weight."""
    rows = []
    for name, module in model.named_modules():
        w = module_tensor(module, "weight")
        if w is not None and w.ndim >= 2:
            w = w.detach()
            n = w.numel()
            rows.append({"name": name or type(module).__name__, "type": type(module).__name__,
                         "shape": list(w.shape), "params": n,
                         "sparsity": 1.0 - int(torch.count_nonzero(w)) / n if n else 0.0})
    return rows


def _first_input(data: Dataset) -> torch.Tensor:
    if isinstance(data, ArrayDataset):
        return data.x[:1]
    return data[0][0].unsqueeze(0)


def _call(example_inputs: Any) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of one forward: a dict is keyword inputs (``input_ids``, ``attention_mask``), a tuple the
    positional inputs, anything else the one positional input."""
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    return (example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)), {}


def _row(t: Any, batch: int) -> Any:
    return t[:1].expand(batch, *t.shape[1:]).contiguous() if isinstance(t, torch.Tensor) else t


def _rows(inputs: tuple | dict, batch: int) -> tuple | dict:
    """The first sample of each input tensor (positional or keyword), repeated to ``batch`` rows."""
    if isinstance(inputs, dict):
        return {k: _row(t, batch) for k, t in inputs.items()}
    return tuple(_row(t, batch) for t in inputs)


def latency_timings(model: nn.Module, inputs: tuple | dict, batch_sizes: tuple[int, ...],
                    min_run_time: float) -> dict[int, Timing]:
    """Forward latency per batch size (seconds: min, median, quartiles over ``Timer`` blocks), current threads.

    ``inputs``: the positional inputs of one forward, or a dict of its keyword inputs."""
    out = {}
    for b in batch_sizes:
        args, kwargs = _call(_rows(inputs, b))
        timer = benchmark.Timer(stmt="model(*args, **kwargs)", globals={"model": model, "args": args, "kwargs": kwargs},
                                num_threads=torch.get_num_threads())
        with torch.inference_mode():
            model(*args, **kwargs)  # warm-up: lazy init, allocator, one-time packing
            m = timer.blocked_autorange(min_run_time=min_run_time)
        out[b] = summarize(list(m.times))
    return out


def latency_ms(model: nn.Module, inputs: tuple, batch_sizes: tuple[int, ...], min_run_time: float) -> dict[int, float]:
    """Median forward latency per batch size in ms (see :func:`latency_timings`)."""
    return {b: t.median * 1e3 for b, t in latency_timings(model, inputs, batch_sizes, min_run_time).items()}


def _timed(model: nn.Module, inputs: tuple, batch_sizes: tuple[int, ...], min_run_time: float,
           threads: int | None) -> tuple[dict[str, Any], list[str]]:
    """Latency with a deliberate thread count, re-measured once when doubtful; report fields and notes."""
    n, why = choose_threads(threads)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        timings = latency_timings(model, inputs, batch_sizes, min_run_time)
        flags = doubts({f"batch {b}": t for b, t in timings.items()}, machine_load(n), MAX_SPREAD)
        if flags:  # once more: a passing burst of other work should not decide the result
            timings = latency_timings(model, inputs, batch_sizes, min_run_time)
            flags = doubts({f"batch {b}": t for b, t in timings.items()}, machine_load(n), MAX_SPREAD)
    finally:
        torch.set_num_threads(before)
    fields = {"latency_ms": {b: t.median * 1e3 for b, t in timings.items()},
              "latency": {b: t.to_ms() for b, t in timings.items()}, "threads": n, "threads_note": why,
              "latency_flags": flags}
    return fields, [f"latency doubtful (measured twice): {f}" for f in flags]


def measure(model: nn.Module, example_inputs: Any = None, eval_data: Dataset | None = None,
            batch_sizes: tuple[int, ...] = (1, 64), min_run_time: float = 0.3, latency: bool = True,
            eval_batch_size: int = 512, threads: int | None = None, reference: nn.Module | None = None) -> Report:
    """Measure a model: accuracy/loss on ``eval_data``, params, nonzeros, saved bytes, MACs, latency.

    Works for any module whose forward takes float tensors (quantized modules included: float in,
    float out). The model is measured in eval mode; its training mode is restored afterwards. It is
    measured on the CPU, where the int8 engines run and latencies compare: a model on another device
    (a GPU) is measured as a CPU copy and stays where it is (``notes`` says so).

    Args:
        model: the module to measure.
        example_inputs: a tensor (batch first), a tuple of tensors, or a dict of keyword inputs (a Hugging
            Face model's ``{"input_ids": ..., "attention_mask": ...}``); its first sample is repeated to each
            latency batch size. Defaults to the first sample of ``eval_data``.
        eval_data: dataset for accuracy and loss (skipped when None).
        batch_sizes: batch sizes to time.
        min_run_time: seconds of timing per batch size (``Timer.blocked_autorange``).
        latency: set False to skip timing (fast tests, size-only reports).
        eval_batch_size: batch size for the accuracy pass.
        threads: torch threads to time with; None chooses the CPUs idle now (stated in ``threads_note``).
        reference: the original model: adds fidelity on ``eval_data`` (top-1/top-5 agreement and KL for
            classifiers, cosine mean/worst and nearest-neighbour agreement for encoders; see ``bench.fidelity``).
            Unlabeled ``eval_data`` (y all -1) then gives fidelity only, no accuracy.

    Returns:
        A :class:`Report` with keys ``accuracy, loss, params, nonzero_params, bytes, macs``
        (per sample, from torch's FLOP counter), ``latency_ms`` ({batch: median ms}), ``latency``
        ({batch: {min, median, iqr, spread}} in ms), ``latency_flags`` (why the timing is doubtful,
        after one re-measurement; empty when it can be trusted), ``threads``, ``threads_note``
        and ``per_layer`` (list of {name, type, shape, params, sparsity}). Values that cannot be
        measured without data are None; a value that could not be measured for another reason is
        None and explained in an extra ``notes`` list.

    Raises:
        ConfigError: (a ValueError) a batch size too large to build (see ``bench.limits``), before any work.

    Example:
        >>> print(measure(model, eval_data=test))  # doctest: +SKIP
    """
    if example_inputs is None and eval_data is not None:
        example_inputs = _first_input(eval_data)
    inputs = None
    if example_inputs is not None:
        args, kwargs = _call(to_device(example_inputs, CPU))
        inputs = kwargs or args
        first = next(iter(kwargs.values())) if kwargs else args[0]
        if latency and isinstance(first, torch.Tensor):
            check_batch_sizes(batch_sizes, first.shape[1:])
    elsewhere = device_of(model)
    model, reference = on_cpu(model), reference if reference is None else on_cpu(reference)
    was_training = model.training
    model.eval()
    try:
        labeled = eval_data is not None and not unlabeled(eval_data)
        scores = evaluate(model, eval_data, batch_size=eval_batch_size) if labeled else {}
        notes = [] if elsewhere.type == "cpu" else [f"measured on the CPU (a copy; the model stays on {elsewhere})"]
        try:
            size = saved_bytes(model)
        except (ValueError, TypeError, RuntimeError, AttributeError) as err:  # e.g. a backend's opaque packed weights
            size = None
            notes.append(f"bytes not measured: st.save failed ({err})")
        timed: dict[str, Any] = {"latency_ms": {}, "latency": {}, "latency_flags": [],
                                 "threads": torch.get_num_threads()}
        if inputs is not None and latency:
            timed, timing_notes = _timed(model, inputs, tuple(batch_sizes), min_run_time, threads)
            notes += timing_notes
        report = Report(
            accuracy=scores.get("accuracy"), loss=scores.get("loss"),
            params=count_params(model), nonzero_params=count_nonzero(model), bytes=size,
            macs=count_macs(model, _rows(inputs, 1)) if inputs is not None else None,
            per_layer=per_layer(model), **timed)
        if report["macs"] == 0 and report["params"]:
            notes.append("MACs not counted: torch's FLOP counter has no formula for this model's kernels "
                         "(quantized or custom ops); the float model's MACs apply")
        if reference is not None and eval_data is not None:
            report.update(fidelity(model, reference, eval_data))
        elif reference is not None:
            notes.append("fidelity not measured: reference= compares the two models on eval_data, and none was given")
        if notes:
            report["notes"] = notes
    finally:
        model.train(was_training)
    return report
