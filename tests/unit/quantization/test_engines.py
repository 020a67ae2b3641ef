"""The one ENGINES table, and torch's process-wide int8 engine left as the caller set it."""

import pytest
import torch

from slimtorch.config import ConfigError
from slimtorch.quantization import Int8, quantize
from slimtorch.quantization.backends import BACKEND_CHOICES, ENGINES, auto_candidates, make_engine
from slimtorch.quantization.backends.auto import CANDIDATES
from slimtorch.quantization.backends.torch import ENGINE, dynamic_linear_prepack, quantized_engine

SUPPORTED = torch.backends.quantized.supported_engines
needs_two = pytest.mark.skipif(not {"onednn", ENGINE} <= set(SUPPORTED) or ENGINE == "onednn",
                               reason="needs two quantized engines (onednn and x86/fbgemm)")


@pytest.fixture(autouse=True)
def _keep_engine():
    """These tests play the user who sets the engine; leave it as the next test expects."""
    before = torch.backends.quantized.engine
    yield
    torch.backends.quantized.engine = before


def test_backend_names_come_from_the_table(tiny):
    assert BACKEND_CHOICES == ("auto", "torch", "onnxruntime", "integer")  # simulate: internal only
    assert CANDIDATES == auto_candidates() == ("torch:onednn", "torch:x86", "onnxruntime")
    with pytest.raises(ConfigError, match="backend: got 'simulate'; allowed: 'auto', 'torch', 'onnxruntime'"):
        Int8(backend="simulate")
    with pytest.raises(ValueError, match="backend 'tensorrt' unknown; allowed: torch, onnxruntime, integer, simulate"):
        make_engine(None, "tensorrt")
    assert set(ENGINES) == {"torch", "onnxruntime", "integer", "simulate"}


def test_context_manager_restores_the_engine_also_on_error():
    before = torch.backends.quantized.engine
    other = next(e for e in SUPPORTED if e != before)
    with quantized_engine(other):
        assert torch.backends.quantized.engine == other
    assert torch.backends.quantized.engine == before
    with pytest.raises(RuntimeError, match="boom"), quantized_engine(other):
        raise RuntimeError("boom")
    assert torch.backends.quantized.engine == before


@needs_two
def test_torch_backend_runs_its_engine_and_leaves_the_callers(tiny, tiny_x):
    """The user's engine survives building and calling the torch backend, and the outputs do not
    depend on it (weights packed for x86 run under x86 even when the user selected onednn)."""
    qm = quantize(tiny, Int8(backend="integer", calib_batches=1), tiny_x)
    outputs = {}
    for user_engine in ("onednn", ENGINE):
        torch.backends.quantized.engine = user_engine
        qm.set_backend("torch", ENGINE)
        y = qm(tiny_x)
        assert torch.backends.quantized.engine == user_engine
        qm.set_backend("torch", "onednn")
        qm(tiny_x)
        assert torch.backends.quantized.engine == user_engine
        outputs[user_engine] = y
    torch.testing.assert_close(outputs["onednn"], outputs[ENGINE], rtol=0, atol=0)
    step = qm.act(qm.ops[-2]["out"])[0]
    assert float((outputs[ENGINE] - qm.simulate(tiny_x)).abs().max()) <= 2 * step + 1e-6


@needs_two
def test_dynamic_prepack_leaves_the_callers_engine():
    torch.backends.quantized.engine = "onednn"
    wq = torch.randint(-127, 128, (4, 8), dtype=torch.int8)
    dynamic_linear_prepack(wq, torch.full((4,), 0.01), torch.zeros(4))
    assert torch.backends.quantized.engine == "onednn"
