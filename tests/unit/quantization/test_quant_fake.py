"""Fake quantization values, the straight-through gradient and LSQ scale gradients."""

import torch

from slimtorch.quantization.fake import FakeQuant, fake_quantize, lsq_fake_quantize


def test_fake_quantize_values_round_half_up():
    x = torch.tensor([0.26, 0.25, -0.25, 5.0, -5.0])
    y = fake_quantize(x, torch.tensor(0.1), torch.tensor(0), -20, 20)
    torch.testing.assert_close(y, torch.tensor([0.3, 0.3, -0.2, 2.0, -2.0]))


def test_fake_quantize_per_channel_axis():
    x = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    y = fake_quantize(x, torch.tensor([0.3, 0.4]), torch.tensor([0, 0]), -127, 127, axis=0)
    torch.testing.assert_close(y, torch.tensor([[0.9, 0.9], [1.2, 1.2]]))


def test_ste_gradient_is_identity_inside_zero_outside():
    x = torch.tensor([0.05, 0.5, 3.0, -3.0], requires_grad=True)
    y = fake_quantize(x, torch.tensor(0.1), torch.tensor(0), -10, 10)
    y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 2.0, 0.0, 0.0]))


def test_lsq_scale_gradient_matches_formula():
    # LSQ: d y / d s = round(x/s) - x/s inside the range, qmin/qmax outside; times the 1/sqrt(n*qmax) scale
    x = torch.tensor([0.26, 5.0])
    s = torch.tensor(0.1, requires_grad=True)
    y = lsq_fake_quantize(x, s, torch.tensor(0), -20, 20)
    torch.testing.assert_close(y.detach(), torch.tensor([0.3, 2.0]))
    y.sum().backward()
    g = 1 / (2 * 20) ** 0.5
    expected = ((3 - 2.6) + 20) * g
    assert abs(float(s.grad) - expected) < 1e-4


def test_fakequant_module_observes_then_freezes():
    fq = FakeQuant(bits=8, observer="minmax")
    fq(torch.tensor([0.0, 2.55]))
    assert abs(float(fq.scale) - 0.01) < 1e-7 and int(fq.zero_point) == 0
    fq.freeze()
    y = fq(torch.tensor([10.0]))  # a frozen range clips
    assert abs(float(fq.scale) - 0.01) < 1e-7
    torch.testing.assert_close(y, torch.tensor([2.55]))
