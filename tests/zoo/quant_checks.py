"""Quantization and ONNX export checked on one zoo model (``zoo_models.zoo()``), the float model as the oracle.

Each check returns ``{"status", "detail", "worst", "seconds", ...}`` with status

- ``ok``: it ran on both example inputs (two shapes) and its outputs follow the float model's: an SQNR of at
  least :data:`MIN_SQNR_DB` for int8 (and, for static int8, the output of every engine within two output steps
  of the fake-quant simulation of the same integer model); within :data:`ONNX_RTOL` of the outputs' scale for ONNX.
  A deep random-weight net amplifies rounding layer after layer (ours/mobilenet_v2, 53 int8 layers: 4 dB with
  correct int8, 8 dB with its first layer alone in int8), so the caller may give such a model a lower SQNR floor;
  the simulation check does not depend on depth;
- ``refused``: a one-line ``UnsupportedModelError`` naming what is unsupported and what to use instead;
- ``unclear``: a refusal of another type, over several lines, or without the way out;
- ``crash``: any other exception (the quantized model or the ONNX graph failing on an example included);
- ``mismatch``: it ran but its outputs are not the float model's (``worst``: the worst SQNR or error).

``worst`` is the worst SQNR in dB over the examples (int8) or the worst max error relative to the float outputs'
max magnitude (ONNX).
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from zoo_models import _outputs

import slimtorch as st
from slimtorch.quantization.errors import UnsupportedModelError

MIN_SQNR_DB = 20.0  # int8 outputs within 10% RMS of the float outputs; a wrong scale or layout gives ~0 dB or less
ONNX_RTOL = 1e-3  # fp32 graph vs torch fp32, max error over the outputs' max magnitude: 8e-5 at most measured
# (ours/mobilenet_v2, 53 convs), as export_onnx's own check; a wrong graph is off by O(1)
WAY_OUT = {"int8": "st.DynamicInt8", "onnx": "export_onnx"}


def main_output(model: nn.Module, x: torch.Tensor | dict) -> torch.Tensor:
    """The model's first float output (logits, or the tensor a plain module returns), as float32; a dict of
    tensors is passed as keyword inputs."""
    if isinstance(x, dict):
        from slimtorch.pruning.graph import _tensors

        with torch.no_grad():
            return [t for t in _tensors(model(**x)) if t.is_floating_point()][0].float()
    return _outputs(model, x)[0].float()


def with_mask(xs: list) -> list[dict]:
    """Token-id examples as Hugging Face keyword inputs with an all-ones attention mask."""
    return [{"input_ids": x, "attention_mask": torch.ones_like(x)} for x in xs]


def sqnr_db(got: torch.Tensor, want: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio of ``got`` against ``want`` in dB (inf when equal)."""
    noise = float((got.double() - want.double()).norm())
    signal = float(want.double().norm())
    if noise == 0:
        return math.inf
    return 20 * math.log10(signal / noise) if signal > 0 else -math.inf


def _refusal(err: Exception, kind: str) -> dict:
    msg = str(err)
    clear = isinstance(err, UnsupportedModelError) and "\n" not in msg and len(msg) <= 400 and WAY_OUT[kind] in msg
    if kind == "onnx":  # export's refusals name the exporter's failure or the example the graph does not follow
        clear = isinstance(err, UnsupportedModelError) and "\n" not in msg and len(msg) <= 400
    return {"status": "refused" if clear else "unclear", "detail": f"{type(err).__name__}: {msg}"[:400]}


def _crash(err: Exception, where: str = "") -> dict:
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return {"status": "crash", "detail": f"{where}{type(err).__name__}: {first}"[:300]}


def _timed(fn, *args) -> dict:
    start = time.perf_counter()
    out = fn(*args)
    return {"detail": "", "worst": None, **out, "seconds": round(time.perf_counter() - start, 3)}


ENGINES = ("torch", "onnxruntime", "integer")


def check_int8(model: nn.Module, xs: list, min_sqnr_db: float = MIN_SQNR_DB) -> dict:
    """``st.quantize(model, st.Int8(), calib_data=xs)`` run by every engine (:data:`ENGINES`) on both examples,
    against its fake-quant simulation (the engine's integers: within two output steps) and the float model (SQNR
    at least ``min_sqnr_db``)."""
    return _timed(_int8, model, xs, min_sqnr_db)


def _int8(model: nn.Module, xs: list, min_sqnr_db: float) -> dict:
    from slimtorch.quantization.graph import float_values, qpoint_of

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qm = st.quantize(model, st.Int8(backend=ENGINES[0]), calib_data=list(xs))
    except ValueError as err:
        return _refusal(err, "int8")
    except Exception as err:
        return _crash(err)
    out_value = qpoint_of(qm.ops).get(qm.ops[-1]["in"][0])
    step = None if out_value is None or out_value in float_values(qm.ops) else qm.act(out_value)[0]
    worst = math.inf
    for engine in ENGINES:
        qm.set_backend(engine)
        for i, x in enumerate(xs):
            try:
                with torch.no_grad():
                    want, got, sim = main_output(model, x), qm(x).float(), qm.simulate(x).float()
            except Exception as err:
                return _crash(err, f"{engine}, input #{i}: ")
            if got.shape != want.shape:
                return {"status": "crash", "detail": f"{engine}, input #{i}: output shape {tuple(got.shape)}, "
                                                     f"float model {tuple(want.shape)}"}
            worst = min(worst, sqnr_db(got, want))
            off = float((got - sim).abs().max())
            if step is not None and off > 2 * step + 1e-6:
                return {"status": "mismatch", "worst": worst,
                        "detail": f"{engine}, input #{i}: differs from the simulation by {off / step:.1f} steps"}
    if worst < min_sqnr_db:
        return {"status": "mismatch", "worst": worst, "detail": f"SQNR {worst:.1f} dB < {min_sqnr_db} dB"}
    return {"status": "ok", "worst": worst, "layers": len(qm.layer_ops())}


def check_dynamic(model: nn.Module, xs: list) -> dict:
    """``st.quantize(model, st.DynamicInt8())`` against the float model; ``layers``: how many went int8."""
    return _timed(_dynamic, model, xs)


def _dynamic(model: nn.Module, xs: list) -> dict:
    from slimtorch.quantization import DynamicLinear

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            qm = st.quantize(model, st.DynamicInt8())
    except ValueError as err:
        return _refusal(err, "int8")
    except Exception as err:
        return _crash(err)
    layers = sum(isinstance(m, DynamicLinear) for m in qm.modules())
    stays_float = any("stays float" in str(w.message) for w in caught)
    if layers == 0 and not stays_float:
        return {"status": "mismatch", "layers": 0, "detail": "no layer quantized and no warning said so"}
    worst = math.inf
    for i, x in enumerate(xs):
        try:
            want, got = main_output(model, x), main_output(qm, x)
        except Exception as err:
            return _crash(err, f"input #{i}: ")
        if got.shape != want.shape:
            return {"status": "crash", "detail": f"input #{i}: output shape {tuple(got.shape)}"}
        worst = min(worst, sqnr_db(got, want))
    if worst < MIN_SQNR_DB:
        return {"status": "mismatch", "worst": worst, "layers": layers,
                "detail": f"SQNR {worst:.1f} dB < {MIN_SQNR_DB} dB"}
    return {"status": "ok", "worst": worst, "layers": layers,
            "detail": "no Linear layer: stays float (warned)" if layers == 0 else ""}


def check_onnx(model: nn.Module, xs: list, keep: Path | None = None) -> dict:
    """``st.export_onnx(model, path, example_inputs=xs)`` run by a plain onnxruntime session on both examples.

    Args:
        keep: write the file here (for a peer that reads it) instead of a temporary folder.
    """
    if keep is not None:
        return _timed(_onnx, model, xs, keep)
    with tempfile.TemporaryDirectory() as tmp:
        return _timed(_onnx, model, xs, Path(tmp) / "model.onnx")


def _onnx(model: nn.Module, xs: list, path: Path) -> dict:
    import onnxruntime as ort

    try:
        st.export_onnx(model, path, example_inputs=list(xs))
    except ValueError as err:
        return _refusal(err, "onnx")
    except Exception as err:
        return _crash(err)
    worst = 0.0
    for i, x in enumerate(xs):
        try:
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            feeds = {k: v.numpy() for k, v in x.items()} if isinstance(x, dict) else {
                sess.get_inputs()[0].name: x.numpy()}
            got = torch.from_numpy(sess.run(None, feeds)[0]).float()
            want = main_output(model, x)
        except Exception as err:
            return _crash(err, f"onnxruntime, input #{i}: ")
        if got.shape != want.shape:
            return {"status": "mismatch", "detail": f"input #{i}: output shape {tuple(got.shape)}, torch "
                                                    f"{tuple(want.shape)}"}
        worst = max(worst, float((got - want).abs().max()) / max(float(want.abs().max()), 1e-12))
    if worst > ONNX_RTOL:
        return {"status": "mismatch", "worst": worst, "detail": f"max error {worst:.2g} of the outputs' scale"}
    return {"status": "ok", "worst": worst}


def settle_batchnorm(model: nn.Module, xs: list) -> nn.Module:
    """In a net with BatchNorm, He-initialise the convolutions and set every BatchNorm's running statistics to
    those of the example inputs (in place; eval mode after). Nets without BatchNorm are left as they are.

    With random weights and the default statistics (mean 0, variance 1), activations shrink layer after layer in
    deep BN nets (MobileNet: outputs of 1e-9; EfficientNet, whose convs start at std 0.02 and whose BatchNorm eps
    is 1e-3: 1e-35), and a float output of zero makes every oracle vacuous. He-scaled convs and re-estimated
    statistics (unit scale, zero shift) keep each layer's output near unit scale, as in a trained net.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
            fan_in = conv.weight[0].numel()
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the batches below
        if bn.affine:  # some HF inits draw the scale near 0 (EfficientNet)
            bn.weight.data.fill_(1.0)
            bn.bias.data.zero_()
    model.train()
    with torch.no_grad():
        for x in xs:
            model(x)
    return model.eval()
