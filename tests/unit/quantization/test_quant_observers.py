"""Observers against hand-computed ranges."""

import pytest
import torch

from slimtorch.quantization.observers import make_observer


def test_minmax_per_tensor_and_channel():
    ob = make_observer("minmax")
    ob.observe(torch.tensor([[-1.0, 2.0], [0.5, 3.0]]))
    ob.observe(torch.tensor([[-4.0, 0.0]]))
    assert [float(v) for v in ob.range()] == [-4.0, 3.0]
    pc = make_observer("minmax", axis=0)
    pc.observe(torch.tensor([[-1.0, 2.0], [0.5, 3.0]]))
    lo, hi = pc.range()
    assert lo.tolist() == [-1.0, 0.5] and hi.tolist() == [2.0, 3.0]


def test_moving_average_hand_values():
    ob = make_observer("moving_average")
    ob.observe(torch.tensor([0.0, 10.0]))
    ob.observe(torch.tensor([-10.0, 0.0]))
    lo, hi = ob.range()
    assert float(lo) == pytest.approx(-1.0) and float(hi) == pytest.approx(9.0)  # 0 + 0.1*(-10), 10 + 0.1*(0-10)


def test_percentile_clips_outlier():
    x = torch.cat([torch.linspace(0, 1, 10001), torch.tensor([1000.0])])
    ob = make_observer("percentile", percentile=99.9)
    ob.observe(x)
    lo, hi = ob.range()
    assert float(hi) == pytest.approx(torch.quantile(x, 0.999).item()) and float(hi) < 1.01
    assert float(lo) == pytest.approx(torch.quantile(x, 0.001).item())


def test_mse_clips_heavy_tail_and_lowers_error():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, generator=g) ** 3  # heavy tails: clipping pays off
    mse, mm = make_observer("mse"), make_observer("minmax")
    mse.observe(x)
    mm.observe(x)

    def err(ob):
        s, z = ob.qparams(4, symmetric=True, signed=True)
        q = torch.clamp(torch.floor(x / s + 0.5), -7, 7)
        return float(((q * s) - x).pow(2).mean())

    s_mse, _ = mse.qparams(4, symmetric=True, signed=True)
    s_mm, _ = mm.qparams(4, symmetric=True, signed=True)
    assert float(s_mse) < float(s_mm)
    assert err(mse) < 0.8 * err(mm)


def test_symmetric_signed_qparams_per_channel():
    ob = make_observer("minmax", axis=0)
    ob.observe(torch.tensor([[-2.54, 1.0], [0.1, 0.127]]))
    s, z = ob.qparams(8, symmetric=True, signed=True)
    torch.testing.assert_close(s, torch.tensor([0.02, 0.001]))
    assert z.tolist() == [0, 0]


def test_errors():
    with pytest.raises(ValueError, match="observer 'kl' unknown; allowed: minmax"):
        make_observer("kl")
    with pytest.raises(RuntimeError, match="seen no data"):
        make_observer("minmax").range()
