"""QAT hook: fake quant inserted, trained with st.fit, frozen after an epoch, converted at finalize."""

import pytest
import torch

import slimtorch as st
from slimtorch.config import ConfigError
from slimtorch.data.arrays import ArrayDataset
from slimtorch.hooks import State
from slimtorch.quantization import QAT, Int8, QATConfig, QuantizedModel
from slimtorch.registry import HandlerContext, config_class, get_handler


def _data(model, n=256, shape=(1, 12, 12)):
    x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return ArrayDataset(x, model(x).argmax(1))


def test_qat_fit_converts_and_matches_simulation(tiny):
    data = _data(tiny)
    hook = QAT(Int8(backend="integer"), freeze_epoch=1)
    cfg = st.TrainConfig(epochs=2, batch_size=64, optimizer="sgd", lr=0.01, momentum=0.9, quiet=True)
    history = st.fit(tiny, data, cfg, hooks=[hook])
    qm = history.model
    assert isinstance(qm, QuantizedModel) and qm.backend == "integer"
    assert hook.frozen and all(not fq.observing for fq in hook.fqs.values())
    assert set(hook.fqs) == {"x", "c1", "c2", "c3", "add", "fc"}
    # the trained float model is left clean (no parametrizations, BN back to normal)
    assert not any(hasattr(m, "parametrizations") for m in tiny.modules())
    assert "forward" not in tiny.b1.__dict__
    y, sim = qm(data.x[:32]), qm.simulate(data.x[:32])
    assert float(((y - sim).abs() / qm.act(qm.ops[-2]["out"])[0]).max()) <= 1.0 + 1e-3
    acc = float((y.argmax(1) == data.y[:32]).float().mean())
    assert acc >= 0.8


def test_qat_fake_model_matches_converted_model(tiny):
    """After freezing, the fake-quant training graph and the converted integer model agree closely."""
    data = _data(tiny, 128)
    hook = QAT(Int8(backend="integer"), freeze_epoch=0)
    state = State(model=tiny)
    hook.on_fit_start(state)
    fake = state.model
    with torch.no_grad():
        fake.train()
        fake(data.x)  # observe ranges in train mode
    hook._freeze()
    fake.eval()
    with torch.no_grad():
        y_fake = fake(data.x[:16])
    state.inputs = data.x[:16]
    qm = hook.finalize(state)
    y_int = qm(data.x[:16])
    step = qm.act(qm.ops[-2]["out"])[0]
    assert float((y_fake - y_int).abs().max()) <= 3 * step


def test_qat_lsq_learns_scales(tiny):
    data = _data(tiny, 128)
    hook = QAT(Int8(backend="integer"), freeze_epoch=5, lsq=True)
    st.fit(tiny, data, st.TrainConfig(epochs=1, batch_size=32, optimizer="adam", lr=1e-2, quiet=True), hooks=[hook])
    assert all(fq.scale.requires_grad for fq in hook.fqs.values())
    # LSQ initialises each scale from the first batch's range, then learns it: they now differ
    moved = [abs(float(fq.scale.detach()) - float(fq.observer.qparams(8)[0])) > 1e-4 for fq in hook.fqs.values()]
    assert sum(moved) >= len(moved) // 2


def test_qat_config_registered_and_validated():
    assert config_class("qat") is QATConfig
    hook = get_handler(QATConfig())(None, QATConfig(freeze_epoch=3, lsq=True), HandlerContext())
    assert isinstance(hook, QAT) and hook.cfg.freeze_epoch == 3 and hook.cfg.lsq
    cfg = QATConfig.from_dict({"quant": {"weight_bits": 4}, "freeze_epoch": 2})
    assert cfg.quant.weight_bits == 4
    with pytest.raises(ConfigError, match="freeze_epoch: got -1"):
        QATConfig(freeze_epoch=-1)
    with pytest.raises(ConfigError, match="quant.weight_bits: got 12"):
        QATConfig.from_dict({"quant": {"weight_bits": 12}})


def test_hook_takes_its_config_or_its_fields():
    cfg = QATConfig(Int8(weight_bits=4), freeze_epoch=2, lsq=True)
    assert QAT(cfg).cfg is cfg  # the settings live in one place
    assert QAT(Int8(weight_bits=4), freeze_epoch=2, lsq=True).cfg == cfg  # st.QAT(st.Int8(...)) as before
    assert QAT(quant=Int8(weight_bits=4), freeze_epoch=2, lsq=True).cfg == cfg
    assert QAT().cfg == QATConfig()
    with pytest.raises(ConfigError, match="freeze_epoch: got -1"):  # QATConfig's check, not a copy of it
        QAT(freeze_epoch=-1)
    with pytest.raises(TypeError, match="not both"):
        QAT(cfg, lsq=False)
    with pytest.raises(TypeError, match="cfg must be a QATConfig, got int"):
        QAT(2)
