"""Peer tools for benchmarks/quantization.py, each imported inside the function that uses it (a
missing tool raises ImportError, reported as "not installed")."""

from __future__ import annotations

import copy
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slimtorch.quantization.backends.onnxruntime import session

_TMP = tempfile.mkdtemp(prefix="slimtorch_quant_peers_")


def _calib_x(calib) -> torch.Tensor:
    return calib.x if hasattr(calib, "x") else calib


def ort_static(fp32_path: Path, calib) -> Path:
    """onnxruntime.quantization.quantize_static, QDQ, per-channel int8 weights, uint8 activations (its defaults
    otherwise: no reduce_range)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    x = _calib_x(calib)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": x[i:i + 32].numpy()} for i in range(0, len(x), 32)])

        def get_next(self):
            return next(self.batches, None)

    out = Path(_TMP) / f"{Path(fp32_path).stem}_{id(calib)}_ort_static.onnx"
    quantize_static(str(fp32_path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def torch_dynamic(model: nn.Module) -> nn.Module:
    """torch.ao quantize_dynamic on the Linear layers (the deprecated torch.ao eager API)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


def nncf_ptq(model: nn.Module, calib) -> nn.Module:
    """NNCF post-training quantization (only when nncf is installed)."""
    import nncf  # noqa: F401  (ImportError -> "not installed")

    x = _calib_x(calib)
    dataset = nncf.Dataset([x[i:i + 32] for i in range(0, len(x), 32)])
    return nncf.quantize(copy.deepcopy(model).eval(), dataset)


def minilm_peers(model: nn.Module, tok, sentences: list[str]) -> dict:
    """Peers for MiniLM: each a function ``f(batch: dict, pooled=False)`` (mean-pooled when ``pooled``)."""
    peers = {}
    tq = torch_dynamic(model)

    def pool(h, batch):
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (h * mask).sum(1) / mask.sum(1)

    def torch_fn(batch, pooled=False):
        with torch.no_grad():
            h = tq(**batch).last_hidden_state
        return pool(h, batch) if pooled else h

    peers["peer torch quantize_dynamic"] = torch_fn
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return peers
    enc = tok(sentences[:2], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Wrapped().eval(), tuple(enc[n] for n in names), buf, dynamo=False, input_names=names,
                          output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={n: {0: "b", 1: "s"} for n in names} | {"last_hidden_state": {0: "b", 1: "s"}})
    fp = Path(_TMP) / "minilm_fp32.onnx"
    fp.write_bytes(buf.getvalue())
    q = Path(_TMP) / "minilm_ort_dynamic.onnx"
    quantize_dynamic(str(fp), str(q), weight_type=QuantType.QInt8)
    for label, path in (("onnxruntime fp32", fp), ("peer ORT quantize_dynamic", q)):
        sess = session(path.read_bytes())

        def ort_fn(batch, pooled=False, sess=sess):
            feeds = {n: np.ascontiguousarray(batch[n].numpy()) for n in names}
            h = torch.from_numpy(sess.run(["last_hidden_state"], feeds)[0])
            return pool(h, batch) if pooled else h

        peers[label] = ort_fn
    return peers
