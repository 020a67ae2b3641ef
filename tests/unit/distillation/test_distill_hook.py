"""The Distill hook driven by a hand-written loop: loss value, frozen teacher, caching, features."""

import copy

import pytest
import torch
import torch.nn.functional as F
from distill_helpers import SmallCNN, mlp, run_loop
from torch.testing import assert_close

from slimtorch.distillation import Distill, DistillConfig, kd_loss
from slimtorch.hooks import State


def _one_step_state(student, x, y):
    state = State(model=student, optimizer=torch.optim.SGD(student.parameters(), lr=0.1))
    state.inputs, state.targets, state.indices = x, y, torch.arange(len(x))
    return state


def test_total_loss_equals_kd_loss(vectors):
    x, y = vectors
    teacher, student = mlp(32), mlp(8)
    kd = Distill(teacher, temperature=3.0, alpha=0.7)
    state = _one_step_state(student, x, y)
    kd.on_fit_start(state)
    kd.on_step_start(state)
    state.outputs = student(x)
    total = kd.task_loss_weight * F.cross_entropy(state.outputs, y) + kd.extra_loss(state)
    expected = kd_loss(student(x), teacher(x), y, temperature=3.0, alpha=0.7)
    assert_close(total, expected)
    assert kd.task_loss_weight == pytest.approx(0.3)


def test_gradients_reach_student_only_and_teacher_is_unchanged(vectors):
    x, y = vectors
    teacher, student = mlp(32), mlp(8)
    teacher.train()  # Distill must switch it to eval itself
    snapshot = copy.deepcopy(teacher.state_dict())
    student_before = copy.deepcopy(student.state_dict())
    kd = Distill(teacher, temperature=4.0, alpha=0.9)
    run_loop(student, [kd], x, y, epochs=3)
    assert all(p.grad is None for p in teacher.parameters())
    assert not teacher.training
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, snapshot[k]), k
    assert any(not torch.equal(v, student_before[k]) for k, v in student.state_dict().items())


def test_teacher_runs_in_eval_mode():
    teacher = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Dropout(0.9))
    kd = Distill(teacher, alpha=1.0)
    student = mlp(8)
    x, y = torch.randn(5, 6), torch.zeros(5, dtype=torch.long)
    state = _one_step_state(student, x, y)
    kd.on_fit_start(state)
    teacher.train()  # flipped back by someone: the hook must still run it deterministically
    state.outputs = student(x)
    a = kd.extra_loss(state)
    b = kd.extra_loss(state)
    assert_close(a, b)


def test_distilled_student_moves_toward_teacher(vectors):
    x, y = vectors
    teacher = mlp(32)
    student_kd, student_ce = mlp(8), mlp(8)
    student_ce.load_state_dict(student_kd.state_dict())
    run_loop(student_kd, [Distill(teacher, temperature=2.0, alpha=1.0)], x, y, epochs=20)
    run_loop(student_ce, [], x, y, epochs=20)
    with torch.no_grad():
        gap_kd = kd_loss(student_kd(x), teacher(x), None, 2.0, 1.0)
        gap_ce = kd_loss(student_ce(x), teacher(x), None, 2.0, 1.0)
    assert gap_kd < 0.5 * gap_ce


def test_shared_or_optimised_teacher_is_rejected(vectors):
    x, y = vectors
    student = mlp(8)
    with pytest.raises(ValueError, match="copy"):
        Distill(student).on_fit_start(_one_step_state(student, x, y))
    teacher = mlp(8)
    state = State(model=student, optimizer=torch.optim.SGD([*student.parameters(), *teacher.parameters()], lr=0.1))
    with pytest.raises(ValueError, match="frozen"):
        Distill(teacher).on_fit_start(state)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"alpha": 1.5}, "alpha"),
        ({"loss": "l1"}, "loss"),
        ({"feature_loss": "gram"}, "feature_loss"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Distill(mlp(8), **kwargs)
    with pytest.raises(ValueError, match=match):  # the same check, in one place: the config
        DistillConfig(**kwargs)


def test_hook_takes_its_config_or_its_fields():
    cfg = DistillConfig(temperature=3.0, alpha=0.7, features={"0": "0"})
    by_cfg, by_fields = Distill(mlp(8), cfg), Distill(mlp(8), temperature=3.0, alpha=0.7, features={"0": "0"})
    assert by_cfg.cfg is cfg and by_fields.cfg == cfg
    assert by_cfg.task_loss_weight == pytest.approx(0.3) and by_cfg.features == {"0": "0"}
    with pytest.raises(TypeError, match="not both"):
        Distill(mlp(8), cfg, alpha=0.5)
    with pytest.raises(TypeError, match="cfg must be a DistillConfig, got float"):
        Distill(mlp(8), 4.0)  # the old positional temperature


class CountingTeacher(SmallCNN):
    calls = 0

    def forward(self, x):
        CountingTeacher.calls += 1
        return super().forward(x)


def test_cache_skips_teacher_after_first_epoch_and_returns_identical_outputs(images):
    x, y = images
    teacher = CountingTeacher(width=8)
    CountingTeacher.calls = 0
    kd = Distill(teacher, features={"conv2": "conv2"}, cache=True)
    run_loop(SmallCNN(width=4), [kd], x, y, epochs=1, batch=8)
    assert CountingTeacher.calls == 4 and kd.teacher_calls == 4
    run_loop(SmallCNN(width=4), [kd], x, y, epochs=2, batch=8)  # reshuffled batches, all rows cached
    assert CountingTeacher.calls == 4
    idx = torch.tensor([5, 0, 31])
    cached = kd.cache.get(idx, x[idx])
    with torch.no_grad():
        assert_close(cached["logits"], SmallCNN.forward(teacher, x[idx]), rtol=1e-6, atol=1e-6)


def test_cached_training_equals_uncached_training(images):
    x, y = images
    teacher = SmallCNN(width=8)
    students = [SmallCNN(width=4) for _ in range(2)]
    students[1].load_state_dict(students[0].state_dict())
    for student, cache in zip(students, (False, True)):
        torch.manual_seed(0)  # same adapter initialisation
        run_loop(student, [Distill(teacher, features={"conv1": "conv1"}, cache=cache)], x, y, epochs=2)
    for a, b in zip(students[0].parameters(), students[1].parameters()):
        assert_close(a, b)


def test_cache_detects_augmented_inputs(vectors):
    x, y = vectors
    kd = Distill(mlp(16), cache=True)
    student = mlp(8)
    state = _one_step_state(student, x[:4], y[:4])
    kd.on_fit_start(state)
    state.outputs = student(state.inputs)
    kd.extra_loss(state)
    state.inputs = torch.roll(state.inputs, 1, dims=1)  # a "shifted" sample under the same row ids
    state.outputs = student(state.inputs)
    with pytest.raises(ValueError, match="augmented"):
        kd.extra_loss(state)


def test_cache_needs_indices(vectors):
    x, y = vectors
    kd = Distill(mlp(16), cache=True)
    state = _one_step_state(mlp(8), x, y)
    state.indices = None
    kd.on_fit_start(state)
    state.outputs = state.model(x)
    with pytest.raises(ValueError, match="indices"):
        kd.extra_loss(state)


def test_student_layer_swapped_mid_training_is_rehooked(images):
    x, y = images
    teacher, student = SmallCNN(width=8), SmallCNN(width=8)
    kd = Distill(teacher, features={"conv2": "conv2"}, alpha=0.0)
    state = _one_step_state(student, x, y)
    kd.on_fit_start(state)
    replaced = torch.nn.Conv2d(8, 8, 3, padding=1)  # what a QAT hook does when it wraps a layer
    student.conv2 = replaced
    kd.on_step_start(state)
    state.outputs = student(x)
    loss = kd.extra_loss(state)
    loss.backward()
    assert replaced.weight.grad is not None and replaced.weight.grad.abs().sum() > 0


def test_attention_transfer_needs_no_adapter(images):
    x, y = images
    kd = Distill(SmallCNN(width=8), features={"conv2": "conv2"}, feature_loss="attention", alpha=0.5)
    run_loop(SmallCNN(width=4), [kd], x, y, epochs=1)
    assert kd.parameters() == [] and kd.last_loss > 0


def test_embedding_distillation_with_width_adapter():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(24, 6, generator=g)
    teacher, student = mlp(32, classes=12), mlp(8, classes=5)  # "embeddings" of width 12 and 5
    kd = Distill(teacher, loss="cosine", alpha=1.0)
    opt = torch.optim.Adam(student.parameters(), lr=0.01)
    state = State(model=student, optimizer=opt)
    kd.on_fit_start(state)
    losses = []
    for _ in range(60):
        state.inputs, state.indices = x, torch.arange(len(x))
        state.outputs = student(x)
        loss = kd.extra_loss(state)
        opt.zero_grad()
        loss.backward()
        kd.after_backward(state)  # trains the output adapter
        opt.step()
        losses.append(loss.item())
    assert kd.adapter_specs["__output__"] == {"kind": "linear", "in": 5, "out": 12}
    assert losses[-1] < 0.5 * losses[0]
