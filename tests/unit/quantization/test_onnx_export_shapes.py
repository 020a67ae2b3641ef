"""export_onnx with several example inputs (``[x_a, x_b]``, as st.prune takes): the dims that differ between them
(image sides, float sequence lengths) are dynamic and onnxruntime is checked against torch on each. A list was
refused, so an image model exported at 32 px ran nowhere else ("Got invalid dimensions" in onnxruntime). A model
torch's exporter cannot convert is one line of UnsupportedModelError, with nothing printed (it was the exporter's
own AssertionError/UnsupportedOperatorError after the whole TorchScript graph on stdout)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from slimtorch.quantization import export_onnx
from slimtorch.quantization.backends.onnxruntime import session
from slimtorch.quantization.errors import UnsupportedModelError


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1).flatten(1))


class Segmenter(nn.Module):  # the output keeps the image sides
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class Recurrent(nn.Module):  # float (batch, time, features): the time axis varies
    def __init__(self):
        super().__init__()
        self.rnn, self.fc = nn.GRU(4, 6, batch_first=True), nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.rnn(x)[0])


class FrozenSide(nn.Module):  # a Python int read from a shape: traced as a constant
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3)) * int(x.shape[-1])


class GroupedAttention(nn.Module):  # SDPA with enable_gqa: torch's exporter has no conversion
    def __init__(self):
        super().__init__()
        self.q, self.kv = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        b, t = x.shape[0], x.shape[1]
        q = self.q(x).view(b, t, 4, 2).transpose(1, 2)
        k, v = self.kv(x).view(b, t, 2, 4).transpose(1, 2).chunk(2, dim=-1)
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True).transpose(1, 2).reshape(b, t, 8)


def _ort(path, x):
    return torch.from_numpy(session(path.read_bytes()).run(None, {"input": x.numpy()})[0])


@pytest.mark.parametrize("model, xs", [
    (ConvNet(), [torch.randn(2, 3, 8, 8), torch.randn(3, 3, 12, 12)]),
    (Segmenter(), [torch.randn(2, 3, 8, 8), torch.randn(3, 3, 12, 10)]),
    (Recurrent(), [torch.randn(2, 5, 4), torch.randn(3, 7, 4)]),
], ids=["pooled", "spatial-output", "float-sequence"])
def test_dims_that_differ_between_examples_are_dynamic(tmp_path, model, xs):
    model.eval()
    path = export_onnx(model, tmp_path / "m.onnx", example_inputs=xs)
    for x in [*xs, torch.randn(1, *xs[1].shape[1:])]:
        with torch.no_grad():
            want = model(x)
        torch.testing.assert_close(_ort(path, x), want, rtol=1e-4, atol=1e-5)


def test_one_example_keeps_other_dims_fixed(tmp_path):
    path = export_onnx(ConvNet().eval(), tmp_path / "m.onnx", example_inputs=torch.randn(2, 3, 8, 8))
    dims = session(path.read_bytes()).get_inputs()[0].shape
    assert dims[1:] == [3, 8, 8] and isinstance(dims[0], str)


def test_a_size_frozen_while_tracing_is_refused_on_the_example_it_breaks(tmp_path):
    xs, model = [torch.randn(2, 3, 8, 8), torch.randn(2, 3, 12, 12)], FrozenSide().eval()
    with pytest.raises(UnsupportedModelError, match=r"does not follow the model on example_inputs\[1\] "
                                                    r"\(input \(2, 3, 12, 12\)\): outputs differ by .*; examples of "
                                                    r"one shape export it with those sizes fixed$"):
        export_onnx(model, tmp_path / "f.onnx", example_inputs=xs)
    assert not (tmp_path / "f.onnx").exists()
    path = export_onnx(model, tmp_path / "f.onnx", example_inputs=xs[0])  # what the refusal advises
    torch.testing.assert_close(_ort(path, xs[0]), model(xs[0]).detach(), rtol=1e-4, atol=1e-5)


def test_examples_must_share_inputs_ranks_and_dtypes(tmp_path):
    with pytest.raises(ValueError, match=r"example_inputs\[1\] has inputs input \(3-D float32\), example_inputs\[0\] "
                                         r"has input \(4-D float32\)"):
        export_onnx(ConvNet().eval(), tmp_path / "m.onnx", example_inputs=[torch.randn(2, 3, 8, 8),
                                                                             torch.randn(2, 3, 8)])
    with pytest.raises(ValueError, match="example_inputs is an empty list"):
        export_onnx(ConvNet().eval(), tmp_path / "m.onnx", example_inputs=[])


def test_an_op_without_onnx_conversion_is_one_quiet_line(tmp_path, capfd):
    with pytest.raises(UnsupportedModelError) as err:
        export_onnx(GroupedAttention().eval(), tmp_path / "g.onnx", example_inputs=torch.randn(2, 5, 8))
    msg = str(err.value)
    assert msg.startswith("export_onnx: torch's ONNX exporter cannot convert GroupedAttention: AssertionError: "
                          "conversion of scaled_dot_product_attention not implemented if enable_gqa is True")
    assert "\n" not in msg
    out, _ = capfd.readouterr()
    assert "Torch IR graph" not in out
    assert not (tmp_path / "g.onnx").exists()


class MaskedDecoder(nn.Module):  # as Hugging Face decoders: without a mask, packed sequences are found by torch.diff
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 4)

    def forward(self, input_ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = (torch.diff(input_ids, prepend=input_ids[:, :1] - 1, dim=-1) != 0).long()
        return self.emb(input_ids) * attention_mask[..., None].float()


def test_a_model_taking_an_attention_mask_is_told_to_export_with_one(tmp_path):
    model, ids = MaskedDecoder().eval(), torch.randint(0, 20, (2, 6))
    with pytest.raises(UnsupportedModelError, match=r"aten::diff.*; the model takes an attention_mask: export with "
                                                    r"\{'input_ids': ids, 'attention_mask': mask\}$"):
        export_onnx(model, tmp_path / "d.onnx", example_inputs=ids)
    named = {"input_ids": ids, "attention_mask": torch.ones(2, 6, dtype=torch.long)}
    assert export_onnx(model, tmp_path / "d.onnx", example_inputs=named).is_file()  # what the advice says


def test_a_graph_onnxruntime_cannot_load_is_not_blamed_on_sizes(tmp_path):
    """A bfloat16 model's graph (onnxruntime's CPU convs have no bfloat16) was refused as "does not follow the
    model at another shape ... the model's forward fixes a size while tracing"."""
    model, x = ConvNet().eval().to(torch.bfloat16), torch.randn(2, 3, 8, 8, dtype=torch.bfloat16)
    with pytest.raises(UnsupportedModelError, match=r"^export_onnx: onnxruntime cannot load the exported graph \(.*"
                                                    r"bfloat16.*\); the model holds bfloat16 weights: export a float32 "
                                                    r"copy \(model.float\(\)\)$"):
        export_onnx(model, tmp_path / "b.onnx", example_inputs=x)
    path = export_onnx(model.float(), tmp_path / "f.onnx", example_inputs=x.float())
    torch.testing.assert_close(_ort(path, x.float()), model(x.float()).detach(), rtol=1e-4, atol=1e-5)
