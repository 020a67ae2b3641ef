"""ONNX export without transformers: keyword inputs, dynamic batch/sequence, named outputs, frozen sizes refused,
and files an older onnxruntime loads (the runtime is simulated by rejecting what a real old one rejects)."""

import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from slimtorch.quantization import Int8, export_onnx, quantize
from slimtorch.quantization.backends.onnxruntime import session
from slimtorch.quantization.onnx_compat import min_ir_for_opset


class KeywordLM(nn.Module):
    """A Hugging Face-shaped model: keyword tensors, a ``use_cache`` default, a dict with a cache beside logits."""

    def __init__(self, vocab: int = 20, width: int = 8, frozen: bool = False):
        super().__init__()
        self.emb, self.head, self.frozen = nn.Embedding(vocab, width), nn.Linear(width, vocab), frozen

    def forward(self, input_ids, attention_mask=None, use_cache=True):
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1)
        # a Python int taken from a shape: the tracer records it as a constant (the frozen-sequence bug)
        length = int(input_ids.shape[1]) if self.frozen else input_ids.shape[1]
        h = h + torch.arange(length, dtype=h.dtype)[None, :, None]
        h = torch.cumsum(h, dim=1)
        return {"cache": h * 2, "logits": self.head(h)} if use_cache else {"logits": self.head(h)}


def _ids(batch, length, pad=0):
    torch.manual_seed(batch * 100 + length)
    ids = torch.randint(1, 20, (batch, length))
    mask = torch.ones_like(ids)
    mask[0, length - pad:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _ort(path, named):
    return torch.from_numpy(session(path.read_bytes()).run(None, {k: v.numpy() for k, v in named.items()})[0])


def test_keyword_inputs_dynamic_batch_and_sequence(tmp_path):
    model = KeywordLM().train()
    path = export_onnx(model, tmp_path / "kw.onnx", _ids(2, 7))
    assert model.training  # the caller's mode is kept
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    dims = [d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert dims[:2] == ["batch", "sequence"]
    model.eval()
    for named in (_ids(3, 11, pad=2), _ids(1, 4)):
        with torch.no_grad():
            want = model(**named, use_cache=False)["logits"]
        torch.testing.assert_close(_ort(path, named), want, rtol=1e-4, atol=1e-4)


def test_frozen_sequence_is_refused(tmp_path):
    with pytest.raises(ValueError, match="does not follow the model at another shape"):
        export_onnx(KeywordLM(frozen=True).eval(), tmp_path / "f.onnx", _ids(2, 7))
    assert not (tmp_path / "f.onnx").exists()


@pytest.mark.parametrize("bad, match", [((torch.ones(2),), "must be a tensor or a dict"), ({}, "an empty dict"),
                                        ({"input_ids": [1, 2]}, r"example_inputs\['input_ids'\] is not a tensor")])
def test_bad_example_inputs(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        export_onnx(KeywordLM(), tmp_path / "b.onnx", bad)


@pytest.mark.parametrize("opset, ir", [(13, 7), (17, 8), (21, 10)])
def test_min_ir_for_opset(opset, ir):
    assert min_ir_for_opset(opset) == ir


def _old_runtime(monkeypatch, max_ir: int, max_opset: int = 21):
    """Make onnxruntime refuse, with its own messages, files newer than an older release loads."""
    real = onnxruntime.InferenceSession

    def old(data, *args, **kwargs):
        proto = onnx.load_from_string(data)
        opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        if proto.ir_version > max_ir:
            raise RuntimeError(f"[ONNXRuntimeError] : 1 : FAIL : Unsupported model IR version: {proto.ir_version}, "
                               f"max supported IR version: {max_ir}")
        if opset > max_opset:
            raise RuntimeError(f"[ONNXRuntimeError] : 1 : FAIL : ONNX Runtime only *guarantees* support ... "
                               f"Current official support for domain ai.onnx is till opset {max_opset}.")
        return real(data, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", old)


def test_ir_version_lowered_for_an_older_runtime(tmp_path, monkeypatch, tiny, tiny_x):
    qm = quantize(tiny, Int8(backend="integer", calib_batches=1), tiny_x)
    assert onnx.load(str(export_onnx(qm, tmp_path / "new.onnx"))).ir_version > 9  # stamped by today's onnx
    _old_runtime(monkeypatch, max_ir=9)
    for name, path in [("int8", export_onnx(qm, tmp_path / "q.onnx")),
                       ("fp32", export_onnx(tiny, tmp_path / "f.onnx", tiny_x))]:
        assert onnx.load(str(path)).ir_version <= 9, name
    got = _ort(tmp_path / "f.onnx", {"input": tiny_x})  # loads in the "old" runtime, same numbers
    torch.testing.assert_close(got, tiny(tiny_x).detach(), rtol=1e-4, atol=1e-4)


def test_opset_lowered_and_too_old_runtime_refused(tmp_path, monkeypatch, tiny, tiny_x):
    _old_runtime(monkeypatch, max_ir=8, max_opset=16)
    proto = onnx.load(str(export_onnx(tiny, tmp_path / "f.onnx", tiny_x)))
    assert [o.version for o in proto.opset_import if o.domain == ""] == [16]
    _old_runtime(monkeypatch, max_ir=7)
    with pytest.raises(ValueError, match="IR version <= 7, but opset 17 needs IR version 8; upgrade onnxruntime"):
        export_onnx(tiny, tmp_path / "g.onnx", tiny_x)
