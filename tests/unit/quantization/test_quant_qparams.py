"""Fixed-point multiplier, rounding shift and scale/zero-point choice against hand values."""

import math

import pytest
import torch

from slimtorch.quantization.qparams import choose_qparams, qrange, quantize_multiplier, requantize, rounding_rshift


@pytest.mark.parametrize("m, m0, p", [
    (0.5, 2**30, 31),
    (1.0, 2**30, 30),
    (0.75, 3 * 2**29, 31),
    (1 / 12, 1431655765, 34),  # round(2/3 * 2^31) = 1431655765
    (2.0**-20, 2**30, 50),
    (0.999999999999, 2**30, 30),  # mantissa rounds up to 2^31: renormalised
])
def test_quantize_multiplier_table(m, m0, p):
    got_m0, got_p = quantize_multiplier(m)
    assert int(got_m0) == m0 and int(got_p) == p
    assert 2**30 <= int(got_m0) < 2**31


@pytest.mark.parametrize("m", [1e-9, 3.7e-4, 0.0123, 0.3333, 0.9, 1.7, 7.25])
def test_multiplier_round_trip(m):
    m0, p = quantize_multiplier(m)
    assert math.isclose(int(m0) * 2.0 ** -int(p), m, rel_tol=2**-30)


def test_multiplier_per_channel_shape():
    m0, p = quantize_multiplier(torch.tensor([[0.5, 0.25], [0.125, 1.0]]))
    assert m0.shape == (2, 2) and p.tolist() == [[31, 32], [33, 30]]


@pytest.mark.parametrize("bad", [0.0, -0.5, float("inf"), float("nan")])
def test_multiplier_rejects_non_positive(bad):
    with pytest.raises(ValueError, match="positive and finite"):
        quantize_multiplier(bad)


def test_multiplier_rejects_huge_shift():
    with pytest.raises(ValueError, match="right shift"):
        quantize_multiplier(2.0**-40)


@pytest.mark.parametrize("x, p, expected", [
    (5, 1, 3), (4, 1, 2), (-5, 1, -2), (-6, 2, -1), (-7, 2, -2), (7, 0, 7), (1023, 10, 1), (511, 10, 0),
])
def test_rounding_rshift_half_up(x, p, expected):
    assert int(rounding_rshift(torch.tensor(x), p)) == expected


def test_requantize_hand_values():
    acc = torch.tensor([-51, 100, 3000])
    m0, p = quantize_multiplier(1 / 12)
    out = requantize(acc, m0, p, zp_out=100, qmin=0, qmax=255)
    assert out.tolist() == [96, 108, 255]  # -4.25 -> -4; 8.33 -> 8; 250 + 100 clamps
    relu = requantize(acc, m0, p, zp_out=100, qmin=0, qmax=255, lo=100)
    assert relu.tolist() == [100, 108, 255]


def test_choose_qparams_hand_values():
    s, z = choose_qparams(torch.tensor(-1.0), torch.tensor(3.0), 0, 255, symmetric=False)
    assert float(s) == pytest.approx(4 / 255) and int(z) == 64  # round(1 / (4/255)) = 63.75 -> 64
    s, z = choose_qparams(torch.tensor([-2.0, -0.5]), torch.tensor([1.0, 0.25]), -127, 127, symmetric=True)
    torch.testing.assert_close(s, torch.tensor([2 / 127, 0.5 / 127]))
    assert z.tolist() == [0, 0]
    s, z = choose_qparams(torch.tensor(0.5), torch.tensor(2.0), 0, 255, symmetric=False)  # range widened to 0
    assert int(z) == 0 and float(s) == pytest.approx(2 / 255)


def test_qrange():
    assert qrange(8, True) == (-127, 127) and qrange(4, True) == (-7, 7) and qrange(8, False) == (0, 255)
