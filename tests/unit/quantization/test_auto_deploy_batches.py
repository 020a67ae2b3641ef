"""backend="auto" decides at the deploy batch sizes, not at the calibration batch size, and records both."""

import pytest

from slimtorch.quantization import Int8, quantize
from slimtorch.quantization.backends import auto

# seconds per call: torch wins at the calibration batch (16 rows), onnxruntime at the deploy sizes 1 and 64
TABLE = {"torch:onednn": {1: 3.0, 16: 1.0, 64: 9.0}, "torch:x86": {1: 3.5, 16: 1.1, 64: 9.5},
         "onnxruntime": {1: 1.0, 16: 2.0, 64: 6.0}, "onnxruntime_fp32": {1: 2.0, 16: 2.0, 64: 12.0}}


@pytest.fixture
def fake_timer(monkeypatch):
    seen = []

    def compare(fns, **kwargs):
        batch = len(seen_rows[-1])
        seen.append(batch)
        return {k: TABLE[k][batch] for k in fns}

    seen_rows = []
    real_rows = auto._rows
    monkeypatch.setattr(auto, "_rows", lambda x, b: seen_rows.append(real_rows(x, b)) or seen_rows[-1])
    monkeypatch.setattr(auto, "compare", compare)
    return seen


def test_decides_at_deploy_sizes_and_records_both(tiny, tiny_x, fake_timer):
    qm = quantize(tiny, Int8(backend="auto", calib_batches=1), tiny_x)
    assert fake_timer == [1, 64]  # timed where it deploys (the defaults), never at 16
    if "onnxruntime" not in qm.backend_times:
        pytest.skip("onnxruntime not installed")
    assert qm.backend == "onnxruntime"
    assert qm.backend_batches == {"decided_at": [1, 64], "calibration": 16}
    assert qm.backend_times["onnxruntime"] == {1: pytest.approx(1000.0), 64: pytest.approx(6000.0)}
    assert "decided at the deploy batch sizes 1, 64, not the calibration batch of 16" in qm.backend_note
    # int8 ORT vs fp32 ORT: 2x at batch 1 and 2x at batch 64 -> geometric mean 2.00x
    assert "2.00x faster than fp32 onnxruntime" in qm.backend_note


def test_pipeline_sizes_reach_the_choice(tiny, tiny_x, fake_timer):
    with auto.deploy_batch_sizes((16,)):
        qm = quantize(tiny, Int8(backend="auto", calib_batches=1), tiny_x)
    assert fake_timer == [16]
    assert qm.backend == "torch" and qm.backend_batches["decided_at"] == [16]
    assert auto._deploy.get() == auto.DEPLOY_BATCH_SIZES  # restored after the block


@pytest.mark.parametrize("per_batch, expected", [
    ({1: {"a": 1.0, "b": 2.0}}, {"a": 1.0, "b": 2.0}),
    ({1: {"a": 1.0, "b": 2.0}, 64: {"a": 8.0, "b": 2.0}}, {"a": 2.0, "b": 2 ** 0.5}),  # sqrt(1*4), sqrt(2*1)
])
def test_rank_is_geometric_mean_of_relative_times(per_batch, expected):
    assert auto._rank(per_batch, ["a", "b"]) == pytest.approx(expected)
