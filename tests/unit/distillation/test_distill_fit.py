"""Distill inside st.fit: frozen teacher, cache, adapters, resume."""

import copy

import pytest
import torch
from distill_helpers import SmallCNN, mlp
from torch.testing import assert_close

from slimtorch.data import ArrayDataset
from slimtorch.distillation import Distill

train = pytest.importorskip("slimtorch.training")


def _cfg(**kw):
    return train.TrainConfig(**{"epochs": 2, "batch_size": 8, "lr": 0.1, "quiet": True, **kw})


def test_fit_trains_student_and_leaves_teacher_untouched(vectors):
    x, y = vectors
    teacher, student = mlp(32), mlp(8)
    snapshot = copy.deepcopy(teacher.state_dict())
    before = copy.deepcopy(student.state_dict())
    kd = Distill(teacher, temperature=4.0, alpha=0.9)
    history = train.fit(student, ArrayDataset(x, y), _cfg(), hooks=[kd])
    assert history.model is student
    for k, v in teacher.state_dict().items():
        assert torch.equal(v.cpu(), snapshot[k]), k  # fit may have moved the teacher to a GPU
    assert all(p.grad is None for p in teacher.parameters())
    assert any(not torch.equal(v.cpu(), before[k]) for k, v in student.state_dict().items())
    assert kd.teacher_calls == 2 * 5  # 40 rows / batch 8, two epochs, no cache


def test_fit_alpha_zero_equals_plain_training(vectors):
    x, y = vectors
    a, b = mlp(8), mlp(8)
    b.load_state_dict(a.state_dict())
    train.fit(a, ArrayDataset(x, y), _cfg())
    kd = Distill(mlp(32), alpha=0.0)
    train.fit(b, ArrayDataset(x, y), _cfg(), hooks=[kd])
    assert kd.teacher_calls == 0  # nothing uses the teacher at alpha=0: it is not run
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert_close(pa, pb)


def test_fit_cache_runs_teacher_only_in_first_epoch(images):
    x, y = images
    kd = Distill(SmallCNN(width=8), features={"conv2": "conv2"}, cache=True)
    train.fit(SmallCNN(width=4), ArrayDataset(x, y), _cfg(epochs=3), hooks=[kd])
    assert kd.teacher_calls == 4  # 32 rows / 8: only epoch 1 ran the teacher
    assert kd.cache.hits == 8 and len(kd.cache) == 32


def test_fit_resume_with_adapters_reproduces_uninterrupted_run(images, tmp_path):
    x, y = images
    data = ArrayDataset(x, y)
    teacher = SmallCNN(width=8)
    init = SmallCNN(width=4).state_dict()
    runs = []
    for resume in (False, True):
        student = SmallCNN(width=4)
        student.load_state_dict(init)
        out = tmp_path / f"run{int(resume)}"
        if resume:  # one epoch, then a fresh process-like restart to epoch 2
            train.fit(
                student,
                data,
                _cfg(epochs=1, out=str(out), momentum=0.9),
                hooks=[Distill(teacher, features={"conv1": "conv1"})],
            )
            student = SmallCNN(width=4)
        kd = Distill(teacher, features={"conv1": "conv1"})
        train.fit(student, data, _cfg(out=str(out), resume=resume, momentum=0.9), hooks=[kd])
        runs.append((student, kd))
    (s0, kd0), (s1, kd1) = runs
    for a, b in zip(s0.parameters(), s1.parameters()):
        assert_close(a, b)
    assert_close(kd0.adapters["conv1"].weight, kd1.adapters["conv1"].weight)
