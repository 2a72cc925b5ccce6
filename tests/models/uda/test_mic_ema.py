import pytest
import torch
from torch import nn

from mmseg.models.uda.ema import ema_alpha, init_ema_weights, step_ema, update_ema_weights


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.bn = nn.BatchNorm1d(2)


def _set(model, value):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.fill_(value + i)


def test_ema_alpha_is_warm_started_and_capped():
    assert ema_alpha(0, 0.999) == 0
    assert ema_alpha(1, 0.999) == pytest.approx(0.5)
    assert ema_alpha(2, 0.999) == pytest.approx(2 / 3)
    assert ema_alpha(9, 0.999) == pytest.approx(0.9)
    assert ema_alpha(499, 0.999) == pytest.approx(0.998)
    assert ema_alpha(5000, 0.999) == 0.999


def test_init_copies_student_params_and_detaches_teacher():
    student, teacher = TinyNet(), TinyNet()
    _set(student, 1.0)
    init_ema_weights(teacher, student)
    for t, s in zip(teacher.parameters(), student.parameters()):
        assert torch.equal(t, s)
        assert not t.requires_grad
        assert t.data_ptr() != s.data_ptr()


def test_update_equals_formula_with_alpha_t():
    student, teacher = TinyNet(), TinyNet()
    _set(student, 1.0)
    _set(teacher, 3.0)
    teacher_before = [p.detach().clone() for p in teacher.parameters()]
    update_ema_weights(teacher, student, iteration=2, alpha=0.999)
    a = 1 - 1 / 3
    for t, t0, s in zip(teacher.parameters(), teacher_before, student.parameters()):
        expected = a * t0 + (1 - a) * s.detach()
        assert torch.equal(t, expected)


def test_update_with_random_params_is_bitwise_the_formula():
    student, teacher = TinyNet(), TinyNet()
    with torch.no_grad():
        for p in list(student.parameters()) + list(teacher.parameters()):
            p.copy_(torch.randn_like(p))
    teacher_before = [p.detach().clone() for p in teacher.parameters()]
    update_ema_weights(teacher, student, iteration=7, alpha=0.8)
    a = min(1 - 1 / 8, 0.8)
    for t, t0, s in zip(teacher.parameters(), teacher_before, student.parameters()):
        assert torch.equal(t, a * t0 + (1 - a) * s.detach())


def test_buffers_are_neither_copied_nor_averaged():
    student, teacher = TinyNet(), TinyNet()
    student.bn.running_mean.fill_(5.0)
    teacher.bn.running_mean.fill_(-1.0)
    init_ema_weights(teacher, student)
    update_ema_weights(teacher, student, iteration=1, alpha=0.999)
    assert torch.equal(teacher.bn.running_mean, torch.full((2,), -1.0))


def test_step_ema_copies_at_iteration_zero_then_averages():
    student, teacher = TinyNet(), TinyNet()
    _set(student, 1.0)
    _set(teacher, 100.0)
    step_ema(teacher, student, 0, 0.999)
    assert all(torch.equal(t, s) for t, s in zip(teacher.parameters(), student.parameters()))
    _set(student, 3.0)
    step_ema(teacher, student, 1, 0.999)
    # alpha_1 = 0.5: halfway between the copy (1 + i) and the new student (3 + i)
    for i, t in enumerate(teacher.parameters()):
        assert torch.allclose(t, torch.full_like(t, 2.0 + i))
