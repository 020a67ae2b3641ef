"""Measure every model of a run in one go, so that every ratio compares numbers taken together.

Static metrics (accuracy, params, nonzeros, MACs, per-layer table) come from ``st.bench.measure``.
Latency is timed with ``st.bench.latency.compare`` over *all* (model, backend) candidates at once,
one interleaved round-robin per batch size, so machine drift hits every candidate alike. Backends:
``eager`` calls the module itself (torch eager fp32; for a quantized model this is reported as
``int8-<engine>``, the engine its quantizer chose), ``onnxruntime`` runs the model exported with
``st.export_onnx`` (and ``onnxruntime-bc`` the same file with its one-channel first convolution run with the
batch as channels, where that applies: see ``search.batch_channels``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import bench
from ..bench.fidelity import FIELDS
from ..bench.limits import check_batch_sizes


def measured_batch_sizes(recipe: Any) -> tuple[int, ...]:
    """The batch sizes a run times (its last measure stage's, else the measure default): where it deploys."""
    from .configs import MeasureConfig

    sizes = [s.config.batch_sizes for s in recipe.stages if isinstance(s.config, MeasureConfig)]
    return tuple(sizes[-1] if sizes else MeasureConfig().batch_sizes)


def batch_of(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``batch`` rows of ``x``, cycling through its rows when it has fewer."""
    idx = torch.arange(batch) % len(x)
    return x[idx].contiguous()


def _ort_session(path: Path):
    from ..quantization.backends.onnxruntime import session

    return session(path.read_bytes())  # non-spinning workers: they would steal the CPU from torch candidates


def onnx_runner(model: nn.Module, example: torch.Tensor, path: Path) -> Callable[[torch.Tensor], Any]:
    """Export ``model`` to ``path`` and return ``x -> outputs`` running it in onnxruntime."""
    from ..quantization import export_onnx

    export_onnx(model, str(path), example_inputs=example[:1])
    return _session_runner(path)


def module_backend(model: nn.Module) -> str:
    """Name of what calling the module runs: ``eager`` (torch fp32) or ``int8-<engine>`` for a
    quantized model, whose quantizer chose the engine."""
    engine = getattr(model, "backend", None)
    return f"int8-{engine}" if isinstance(engine, str) else "eager"


def _why(err: Exception) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]


def _session_runner(path: Path) -> Callable[[torch.Tensor], Any]:
    sess = _ort_session(path)
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x.numpy()})


def regrouped_runner(path: Path, example: torch.Tensor) -> Callable[[torch.Tensor], Any] | None:
    """The exported fp32 model with its one-channel first convolution run with the batch as channels
    (``search.batch_channels``; exact, checked against the plain graph), or None where that does not apply."""
    if not path.is_file():
        return None
    import onnx

    from ..search.batch_channels import verified

    fast = verified(onnx.load(str(path)), batch_of(example, 8))
    if fast is None:
        return None
    out = path.with_name(path.stem + "-bc.onnx")
    onnx.save(fast, str(out))
    return _session_runner(out)


def dequantized_runner(model: nn.Module, path: Path) -> Callable[[torch.Tensor], Any] | None:
    """For an int8 model: its network in fp32 onnxruntime with the int8 weights dequantized (int8 on
    disk, float compute), or None for other models. Where int8 kernels lose to fp32 (small convs
    on CPUs without VNNI) this is the fastest way to deploy the small file; its accuracy is measured."""
    from ..quantization import QuantizedModel

    if not isinstance(model, QuantizedModel):
        return None
    import onnx

    from ..quantization.onnx_export import qdq_model

    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(qdq_model(model, int8=False), str(path))
    return _session_runner(path)


def backend_runners(model: nn.Module, example: torch.Tensor, backends: tuple[str, ...],
                    work_dir: Path) -> tuple[dict[str, Callable[[torch.Tensor], Any]], dict[str, str]]:
    """The callables that run ``model`` on each requested backend, and why any is unavailable."""
    runners: dict[str, Callable[[torch.Tensor], Any]] = {}
    missing: dict[str, str] = {}
    if "eager" in backends:
        runners[module_backend(model)] = model
    if "onnxruntime" in backends:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # exporter chatter; a failure is reported below
                runners["onnxruntime"] = onnx_runner(model, example, work_dir / "model.onnx")
        except Exception as err:  # any exporter/runtime failure only removes this backend from the table
            missing["onnxruntime"] = _why(err)
        try:
            regrouped = regrouped_runner(work_dir / "model.onnx", example)
            if regrouped is not None:
                runners["onnxruntime-bc"] = regrouped
        except Exception as err:  # as above: one backend fewer, and the table says why
            missing["onnxruntime-bc"] = _why(err)
        try:
            fp32 = dequantized_runner(model, work_dir / "model-fp32.onnx")
            if fp32 is not None:
                runners["onnxruntime-fp32"] = fp32
                regrouped = regrouped_runner(work_dir / "model-fp32.onnx", example)
                if regrouped is not None:
                    runners["onnxruntime-fp32-bc"] = regrouped
        except Exception as err:  # as above: one backend fewer, and the table says why
            missing["onnxruntime-fp32"] = _why(err)
    return runners, missing


def runner_accuracy(fn: Callable[[torch.Tensor], Any], data: Any, batch: int = 512) -> float | None:
    """Top-1 accuracy of a backend's outputs on a labelled in-memory dataset (None if not applicable)."""
    x, y = getattr(data, "x", None), getattr(data, "y", None)
    if x is None or y is None or y.dtype != torch.int64 or y.ndim != 1 or not len(y):
        return None
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out = fn(x[i:i + batch])
            out = torch.as_tensor(out[0] if isinstance(out, (list, tuple)) else out)
            correct += int((out.argmax(-1) == y[i:i + batch]).sum())
    return correct / len(y)


def _kept(row: list[dict], base: list[dict]) -> list[dict[str, Any]]:
    """Output channels kept per layer, relative to the baseline's layer of the same name."""
    ref = {r["name"]: r["shape"][0] for r in base}
    return [{"name": r["name"], "kept": r["shape"][0], "total": ref[r["name"]],
             "kept_fraction": r["shape"][0] / ref[r["name"]]} for r in row if r["name"] in ref and ref[r["name"]]]


def measure_models(models: dict[str, nn.Module], baseline: str, example: torch.Tensor, *, eval_data: Any,
                   batch_sizes: tuple[int, ...] = (1, 64), backends: tuple[str, ...] = ("eager", "onnxruntime"),
                   repeats: int = 20, warmup: int = 3, work_dir: Path, disk_bytes: dict[str, int] | None = None,
                   threads: int | None = None) -> dict[str, Any]:
    """Measure ``models`` (label -> module, in stage order) against ``models[baseline]``.

    Args:
        models: the models to compare; the baseline among them.
        baseline: label of the reference (torch eager fp32) model.
        example: a batch of real inputs; latency batches cycle through its rows.
        eval_data: test dataset for accuracy, and for every model's fidelity to the baseline (top-1/top-5
            agreement and KL, or embedding cosine and nearest-neighbour agreement); None: neither.
        batch_sizes: batch sizes to time.
        backends: subset of ("eager", "onnxruntime").
        repeats: timed round-robin rounds per batch size.
        warmup: untimed rounds first.
        work_dir: folder for exported ONNX files (one subfolder per label).
        disk_bytes: label -> bytes of the saved model files (defaults to ``st.bench.saved_bytes``).
        threads: torch (and onnxruntime) threads to time with; None: the CPUs idle now.

    Returns:
        {"batch_sizes", "backends", "threads", "threads_note", "machine", "doubtful" {batch: [why]}, "note",
        "rows": [{label, accuracy, fidelity, params, nonzero_params, macs, bytes_on_disk, per_layer, kept,
        latency_ms {backend: {batch: median ms}}, latency {backend: {batch: {min, median, iqr, spread}}},
        best {batch: {backend, ms}}, speedup {batch: x}, size_ratio, unavailable {backend: why}}]}
        (batch keys are strings). A batch in ``doubtful`` was measured twice and is still too noisy or ran
        on an oversubscribed machine: its ratios are not headline numbers.
    """
    check_batch_sizes(batch_sizes, example.shape[1:])  # before any batch is built (a recipe is checked earlier)
    n, why = bench.machine.choose_threads(threads)
    before = torch.get_num_threads()
    torch.set_num_threads(n)  # before the sessions are made: onnxruntime takes torch's thread count
    try:
        result = _measure(models, baseline, example, eval_data, batch_sizes, backends, repeats, warmup, work_dir,
                          disk_bytes)
    finally:
        torch.set_num_threads(before)
    result.update(threads=n, threads_note=why, machine=bench.machine.machine_load(n).to_dict())
    doubtful = f"; doubtful (measured twice): batch {', '.join(result['doubtful'])}" if result["doubtful"] else ""
    result["note"] = (f"Latency: median (min, IQR) of {repeats} interleaved rounds per batch size, {why}, "
                      f"onnxruntime intra-op threads the same; speedup = baseline '{baseline}' torch eager fp32 / "
                      f"best backend of each model, same run{doubtful}.")
    return result


def _measure(models: dict[str, nn.Module], baseline: str, example: torch.Tensor, eval_data: Any,
             batch_sizes: tuple[int, ...], backends: tuple[str, ...], repeats: int, warmup: int, work_dir: Path,
             disk_bytes: dict[str, int] | None) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    runners: dict[str, dict[str, Callable]] = {}
    for label, model in models.items():
        model.cpu().eval()  # a stage trained on a GPU leaves its model there; these measurements are CPU ones
        reference = None if label == baseline else models[baseline]  # fidelity: agreement with the original
        rep = bench.measure(model, example_inputs=example[:1], eval_data=eval_data, latency=False, reference=reference)
        row = {k: rep.get(k) for k in ("accuracy", "loss", "params", "nonzero_params", "macs", "per_layer")}
        row["fidelity"] = {k: rep[k] for k, _ in FIELDS if rep.get(k) is not None} or None
        if not row["macs"]:
            row["macs"] = None  # torch's FLOP counter does not see integer kernels: unknown, not zero
        row["label"] = label
        row["bytes_on_disk"] = (disk_bytes or {}).get(label) or rep.get("bytes")
        runners[label], row["unavailable"] = backend_runners(model, example, backends, work_dir / label)
        if module_backend(model) != "eager" and eval_data is not None:
            # an int8 model's backends do not share one arithmetic: each one's accuracy is its own
            row["backend_accuracy"] = {name: runner_accuracy(fn, eval_data) for name, fn in runners[label].items()}
        rows[label] = row
    doubtful: dict[str, list[str]] = {}
    for b in batch_sizes:
        x = batch_of(example, b)
        fns = {f"{label}\t{name}": (lambda fn=fn, x=x: fn(x))
               for label, rs in runners.items() for name, fn in rs.items()}
        times, flags = bench.latency.trusted_timings(fns, repeats=repeats, warmup=warmup)
        if flags:
            doubtful[str(b)] = [f.replace("\t", " ") for f in flags]
        for key, t in times.items():
            label, name = key.split("\t")
            rows[label].setdefault("latency_ms", {}).setdefault(name, {})[str(b)] = t.median * 1e3
            rows[label].setdefault("latency", {}).setdefault(name, {})[str(b)] = t.to_ms()
    base = rows[baseline]
    base_ms = {str(b): base.get("latency_ms", {}).get("eager", {}).get(str(b)) for b in batch_sizes}
    for row in rows.values():
        row["best"], row["speedup"] = {}, {}
        for b in map(str, batch_sizes):
            options = [(ms[b], name) for name, ms in row.get("latency_ms", {}).items() if b in ms]
            if options:
                ms, name = min(options)
                row["best"][b] = {"backend": name, "ms": ms}
                row["speedup"][b] = base_ms[b] / ms if base_ms[b] else None
        row["size_ratio"] = (base["bytes_on_disk"] / row["bytes_on_disk"]) if row.get("bytes_on_disk") else None
        row["kept"] = _kept(row.get("per_layer") or [], base.get("per_layer") or [])
    return {"batch_sizes": list(batch_sizes), "backends": list(backends), "doubtful": doubtful,
            "rows": list(rows.values())}
