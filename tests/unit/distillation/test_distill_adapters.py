"""Adapters: shapes for narrower (pruned) students, errors when more than the width differs, training."""

import pytest
import torch
from distill_helpers import SmallCNN, mlp, run_loop
from torch import nn

from slimtorch.distillation import Distill, adapter_spec, build_adapter, make_adapter


@pytest.mark.parametrize(
    "s_shape, t_shape, layer, kind, expect_out",
    [
        ((2, 4, 5, 5), (2, 8, 5, 5), None, "conv2d", (2, 8, 5, 5)),
        ((2, 12), (2, 20), None, "linear", (2, 20)),
        ((2, 7, 12), (2, 7, 20), None, "linear", (2, 7, 20)),  # token sequences: last dim
        ((2, 3, 9), (2, 6, 9), nn.Conv1d(1, 3, 1), "conv1d", (2, 6, 9)),  # conv1d activations: channels
        ((2, 8, 5, 5), (2, 8, 5, 5), None, "identity", (2, 8, 5, 5)),
    ],
)
def test_adapter_maps_student_to_teacher_shape(s_shape, t_shape, layer, kind, expect_out):
    spec = adapter_spec(s_shape, t_shape, layer)
    assert spec["kind"] == kind
    module = build_adapter(spec)
    assert tuple(module(torch.randn(s_shape)).shape) == expect_out


def test_conv_adapter_is_1x1_with_pruned_widths():
    a = make_adapter(torch.zeros(2, 4, 5, 5), torch.zeros(2, 8, 5, 5))
    assert isinstance(a, nn.Conv2d) and tuple(a.weight.shape) == (8, 4, 1, 1)


@pytest.mark.parametrize(
    "s_shape, t_shape",
    [((2, 4, 5, 5), (2, 8, 6, 6)), ((2, 4, 5), (2, 8, 6)), ((2, 4), (2, 4, 1)), ((2,), (3,))],
)
def test_shapes_that_differ_beyond_width_raise(s_shape, t_shape):
    with pytest.raises(ValueError, match="feature"):
        adapter_spec(s_shape, t_shape, name="feature")


def test_distill_creates_right_adapters_for_narrow_student_and_trains_them(images):
    x, y = images
    teacher, student = SmallCNN(width=8), SmallCNN(width=4)  # student: half the channels, as after pruning
    kd = Distill(teacher, features={"conv1": "conv1", "conv2": "conv2"}, feature_weight=1.0)
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    run_loop(student, [kd], x, y, epochs=1, optimizer=opt)
    assert kd.adapter_specs == {
        "conv1": {"kind": "conv2d", "in": 4, "out": 8},
        "conv2": {"kind": "conv2d", "in": 4, "out": 8},
    }
    assert tuple(kd.adapters["conv1"].weight.shape) == (8, 4, 1, 1)
    before = {k: v.clone() for k, v in kd.adapters.state_dict().items()}
    # The hook trains the adapters with a copy of the student's optimizer (same class, the student's lr).
    in_student_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in in_student_opt for p in kd.parameters())
    adapter_opt = kd.adapter_optimizer.optimizer
    assert isinstance(adapter_opt, torch.optim.SGD) and len(adapter_opt.param_groups) == 2
    opt.param_groups[0]["lr"] = 0.05  # a schedule changed the student's lr: the adapters follow
    run_loop(student, [kd], x, y, epochs=1, optimizer=opt)
    assert all(g["lr"] == 0.05 for g in adapter_opt.param_groups)
    changed = [not torch.equal(before[k], v) for k, v in kd.adapters.state_dict().items()]
    assert all(changed)
    # The student itself gained no parameters or state_dict keys.
    assert set(student.state_dict()) == set(SmallCNN(width=4).state_dict())


def test_equal_widths_need_no_adapter_parameters(vectors):
    x, y = vectors
    kd = Distill(mlp(16), features={"0": "0"})
    run_loop(mlp(16), [kd], x, y, epochs=1)
    assert kd.adapter_specs["0"]["kind"] == "identity" and kd.parameters() == []


def test_adapter_state_round_trips_into_a_fresh_hook(images):
    x, y = images
    teacher = SmallCNN(width=8)
    kd = Distill(teacher, features={"conv2": "conv2"})
    run_loop(SmallCNN(width=4), [kd], x, y, epochs=1)
    fresh = Distill(teacher, features={"conv2": "conv2"})
    fresh.load_state_dict(kd.state_dict())
    probe = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(fresh.adapters["conv2"](probe), kd.adapters["conv2"](probe))
