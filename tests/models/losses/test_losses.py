"""Cross-entropy and accuracy with MIC's (MMSeg 0.16) treatment of ignored pixels."""
import math

import pytest
import torch

from mmseg.models.builder import build_loss
from mmseg.models.losses import Accuracy, accuracy

# Two classes, one image of 1 x 4 pixels; the last pixel is ignored.
LOGITS = torch.tensor([[[[2.0, 0.0, 1.0, 5.0]], [[0.0, 1.0, 0.5, 0.0]]]])  # (1, 2, 1, 4)
LABEL = torch.tensor([[[0, 1, 0, 255]]])  # (1, 1, 4)


def _nll(logit_true, logit_other):
    return -math.log(math.exp(logit_true) / (math.exp(logit_true) + math.exp(logit_other)))


PIXEL_LOSSES = [_nll(2, 0), _nll(1, 0), _nll(1, 0.5)]


def test_ce_mean_divides_by_all_pixels_including_ignored():
    loss = build_loss(dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
    assert loss(LOGITS, LABEL).item() == pytest.approx(sum(PIXEL_LOSSES) / 4, rel=1e-6)


def test_ce_avg_non_ignore_switch_divides_by_valid_pixels():
    loss = build_loss(dict(type='CrossEntropyLoss', avg_non_ignore=True))
    assert loss(LOGITS, LABEL).item() == pytest.approx(sum(PIXEL_LOSSES) / 3, rel=1e-6)


def test_ce_per_pixel_weight_and_loss_weight():
    loss = build_loss(dict(type='CrossEntropyLoss', loss_weight=2.0))
    weight = torch.tensor([[[0.5, 0.0, 1.0, 1.0]]])
    expected = 2.0 * (0.5 * PIXEL_LOSSES[0] + PIXEL_LOSSES[2]) / 4
    assert loss(LOGITS, LABEL, weight=weight).item() == pytest.approx(expected, rel=1e-6)


def test_ce_class_weight_scales_each_pixel_by_its_class():
    loss = build_loss(dict(type='CrossEntropyLoss', class_weight=[1.0, 3.0]))
    expected = (PIXEL_LOSSES[0] + 3 * PIXEL_LOSSES[1] + PIXEL_LOSSES[2]) / 4
    assert loss(LOGITS, LABEL).item() == pytest.approx(expected, rel=1e-6)


def test_ce_custom_ignore_index():
    loss = build_loss(dict(type='CrossEntropyLoss'))
    label = torch.tensor([[[0, 1, 7, 1]]])
    expected = (PIXEL_LOSSES[0] + PIXEL_LOSSES[1] + _nll(0, 5)) / 4
    assert loss(LOGITS, label, ignore_index=7).item() == pytest.approx(expected, rel=1e-6)


def test_accuracy_counts_ignored_pixels_as_wrong():
    # predictions 0, 1, 0, 0 against labels 0, 1, 0, 255: 3 of 4 pixels right.
    assert accuracy(LOGITS, LABEL).item() == pytest.approx(75.0)


def test_accuracy_topk_and_module():
    label = torch.tensor([[[1, 0, 1, 0]]])
    top1, top2 = accuracy(LOGITS, label, topk=(1, 2))
    assert top1.item() == pytest.approx(25.0) and top2.item() == pytest.approx(100.0)
    assert Accuracy(topk=(1, ))(LOGITS, label)[0].item() == pytest.approx(25.0)
