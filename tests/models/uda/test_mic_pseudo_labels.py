import math

import pytest
import torch

from mmseg.models.uda.pseudo_labels import (confidence_quality, filter_valid_pseudo_region,
                                            pseudo_label_from_logits, pseudo_weight_map,
                                            teacher_diagnostics)
from mmseg.utils.errors import UserError


def test_pseudo_label_is_softmax_max_and_argmax():
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 1, 0, 0] = math.log(3.0)  # probs (0.25, 0.75)
    logits[0, 0, 0, 1] = math.log(4.0)  # probs (0.8, 0.2)
    prob, label = pseudo_label_from_logits(logits)
    assert prob.shape == (1, 1, 2) and label.shape == (1, 1, 2)
    assert torch.allclose(prob, torch.tensor([[[0.75, 0.8]]]))
    assert label.tolist() == [[[1, 0]]]


def test_pseudo_weight_is_fraction_of_confident_pixels_of_whole_batch():
    prob = torch.tensor([[[0.99, 0.5], [0.968, 0.2]],
                         [[0.97, 0.1], [0.3, 0.4]]])
    q = confidence_quality(prob, 0.968)
    assert torch.is_tensor(q) and q.dim() == 0
    assert q.item() == pytest.approx(3 / 8)
    weight = pseudo_weight_map(prob, 0.968)
    assert weight.shape == (2, 2, 2)
    assert torch.all(weight == q)


def test_pseudo_weight_without_threshold_is_one():
    prob = torch.full((1, 3, 3), 0.1)
    assert torch.equal(pseudo_weight_map(prob, None), torch.ones(1, 3, 3))


def test_ignore_top_and_bottom_rows_are_zeroed():
    w = torch.full((1, 6, 2), 0.5)
    out = filter_valid_pseudo_region(w, None, ignore_top=1, ignore_bottom=2)
    expected = torch.tensor([0, 0.5, 0.5, 0.5, 0, 0]).view(1, 6, 1).expand(1, 6, 2)
    assert torch.equal(out, expected)
    assert torch.all(w == 0.5), 'input must stay untouched'


def test_valid_pseudo_mask_multiplies_weight():
    w = torch.full((1, 2, 2), 0.5)
    mask = torch.tensor([[[[1, 0], [0, 1]]]], dtype=torch.uint8)
    out = filter_valid_pseudo_region(w, mask)
    assert torch.equal(out, torch.tensor([[[0.5, 0.0], [0.0, 0.5]]]))


def test_margins_and_valid_mask_together_are_refused():
    w = torch.ones(1, 4, 4)
    with pytest.raises(UserError, match='crop_pseudo_margins'):
        filter_valid_pseudo_region(w, torch.ones(1, 1, 4, 4), ignore_top=1)


def test_teacher_diagnostics_count_confidence_and_correctness_on_labelled_pixels():
    prob = torch.tensor([[[0.99, 0.97, 0.5, 0.2]]])
    label = torch.tensor([[[1, 2, 0, 0]]])
    gt = torch.tensor([[[1, 0, 0, 255]]])  # the last pixel is unlabelled
    d = teacher_diagnostics(prob, label, gt, threshold=0.968)
    assert d['pl.acc'].item() == pytest.approx(2 / 3)
    assert d['pl.q'].item() == pytest.approx(2 / 4)  # MIC's q: over all pixels
    assert d['pl.acc_confident'].item() == pytest.approx(1 / 2)  # right at 0.99, wrong at 0.97
    # Quartiles of (0.2, 0.5, 0.97, 0.99), linear interpolation as torch.quantile.
    assert d['pl.conf_p25'].item() == pytest.approx(0.425)
    assert d['pl.conf_p50'].item() == pytest.approx(0.735)
    assert teacher_diagnostics(prob, label, gt, None)['pl.q'].item() == 1.0
