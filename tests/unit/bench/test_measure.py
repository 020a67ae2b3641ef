import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.bench import KEYS, Report, count_macs, evaluate, measure
from slimtorch.data import ArrayDataset


def _data(n=16):
    g = torch.Generator().manual_seed(0)
    return ArrayDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


def test_measure_returns_every_key_with_consistent_values():
    model = st.models.build("lenet5")
    data = _data()
    report = measure(model, eval_data=data, batch_sizes=(1, 4), min_run_time=0.01)
    assert isinstance(report, Report) and set(KEYS) <= set(report)
    assert report["params"] == 61706 and report["nonzero_params"] == 61706
    assert report["macs"] == count_macs(model, torch.zeros(1, 1, 28, 28)) == 416520
    assert report["accuracy"] == evaluate(model, data)["accuracy"]
    assert set(report["latency_ms"]) == {1, 4} and all(v > 0 for v in report["latency_ms"].values())
    assert report["threads"] == torch.get_num_threads() and report["bytes"] > 4 * 61706
    assert [r["name"] for r in report["per_layer"]] == ["features.0", "features.3", "classifier.0", "classifier.2",
                                                       "classifier.4"]
    text = str(report)
    assert "61,706" in text and "latency batch 4" in text and "classifier.4" in text


def test_measure_sparsity_per_layer_and_nonzeros():
    model = st.models.build("mlp", widths=[8, 4, 2])
    with torch.no_grad():
        model.fc1.weight[:2].zero_()  # half of fc1's 32 weights
    report = measure(model, example_inputs=torch.zeros(1, 8), latency=False)
    fc1 = report["per_layer"][0]
    assert fc1["name"] == "fc1" and fc1["shape"] == [4, 8] and fc1["params"] == 32
    assert abs(fc1["sparsity"] - 0.5) < 1e-9
    assert report["nonzero_params"] == report["params"] - 16
    assert report["accuracy"] is None and report["latency_ms"] == {}


def test_measure_without_inputs_still_sizes_and_keeps_mode():
    model = nn.Sequential(nn.Linear(3, 2)).train()
    report = measure(model)
    assert report["params"] == 8 and report["macs"] is None and report["bytes"] > 0
    assert model.training


def test_measure_float_in_float_out_wrapper_model():
    # a quantized-style model: int8 weights in buffers, float in / float out
    class Int8Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("weight", torch.randint(-127, 128, (4, 6), dtype=torch.int8))
            self.register_buffer("scale", torch.tensor(0.01))

        def forward(self, x):
            return x @ (self.weight.float() * self.scale).t()

    report = measure(Int8Linear(), example_inputs=torch.randn(2, 6), batch_sizes=(1,), min_run_time=0.01)
    assert report["params"] == 24 and report["latency_ms"][1] > 0 and report["macs"] == 24


def test_measure_refuses_a_batch_too_large_to_build_before_building_it():
    with pytest.raises(ValueError, match=r"^batch_sizes: 1,000,000,000 samples of \[3, 32, 32\] make "
                                         r"3,072,000,000,000 values; allowed: at most 268,435,456 per batch"):
        measure(nn.Conv2d(3, 4, 3), example_inputs=torch.randn(1, 3, 32, 32), batch_sizes=(1, 10**9))


class _Keyword(nn.Module):
    """A Hugging Face-style forward: keyword inputs only, a dict out."""

    def __init__(self):
        super().__init__()
        self.emb, self.out = nn.Embedding(20, 8), nn.Linear(8, 4)

    def forward(self, input_ids=None, attention_mask=None):
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1)
        return {"last_hidden_state": self.out(h)}


def test_measure_takes_keyword_inputs_like_a_hugging_face_model():
    model = _Keyword()
    ids = torch.randint(0, 20, (3, 5))
    report = measure(model, example_inputs={"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                     batch_sizes=(1, 4), min_run_time=0.01, reference=_Keyword())
    assert set(report["latency_ms"]) == {1, 4} and all(ms > 0 for ms in report["latency_ms"].values())
    assert report["macs"] == 5 * 8 * 4  # one row: 5 tokens through the 8 -> 4 Linear
    assert any("fidelity not measured" in n for n in report["notes"])  # reference= without eval_data is said
