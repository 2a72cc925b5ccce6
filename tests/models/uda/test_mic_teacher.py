import math

import pytest
import torch
from torch import nn

from mmseg.models.uda import teacher_module
from mmseg.models.uda.teacher_module import EMATeacher


class FakeSegmentor(nn.Module):
    """Returns fixed logits: pixel (0, 0) has prob 0.75 for class 1, all others 0.5."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.drop = nn.Dropout(0.5)
        self.bn = nn.BatchNorm2d(2)

    def generate_pseudo_label(self, img, img_metas):
        logits = torch.zeros(img.shape[0], 2, *img.shape[2:])
        logits[:, 1, 0, 0] = math.log(3.0)
        return logits


@pytest.fixture
def cfg(monkeypatch):
    monkeypatch.setattr(teacher_module, 'build_segmentor', lambda model_cfg: FakeSegmentor())
    return dict(model=dict(type='Fake'), alpha=0.9, pseudo_threshold=0.7,
                pseudo_weight_ignore_top=0, pseudo_weight_ignore_bottom=0)


def test_teacher_labels_and_weights_target(cfg):
    teacher = EMATeacher(**cfg)
    label, weight = teacher(torch.zeros(2, 3, 2, 2), [{}, {}], None)
    assert label.tolist() == [[[1, 0], [0, 0]]] * 2
    # 2 confident pixels (prob 0.75) of 8
    assert torch.allclose(weight, torch.full((2, 2, 2), 0.25))


def test_teacher_without_threshold_weights_one_and_filters_region(cfg):
    cfg.update(pseudo_threshold=None, pseudo_weight_ignore_top=1)
    teacher = EMATeacher(**cfg)
    _, weight = teacher(torch.zeros(1, 3, 2, 2), [{}], None)
    assert weight.tolist() == [[[0.0, 0.0], [1.0, 1.0]]]


def test_teacher_disables_dropout_only(cfg):
    teacher = EMATeacher(**cfg).train()
    teacher(torch.zeros(1, 3, 2, 2), [{}], None)
    assert not teacher.ema_model.drop.training
    assert teacher.ema_model.bn.training


def test_teacher_update_copies_then_averages(cfg):
    teacher = EMATeacher(**cfg)
    student = FakeSegmentor()
    teacher.update_weights(student, 0)
    assert torch.equal(teacher.ema_model.conv.weight, student.conv.weight)
    before = teacher.ema_model.conv.weight.clone()
    with torch.no_grad():
        student.conv.weight.add_(1.0)
    teacher.update_weights(student, 1)  # alpha_1 = min(0.5, 0.9)
    expected = 0.5 * before + 0.5 * student.conv.weight.detach()
    assert torch.allclose(teacher.ema_model.conv.weight, expected)
