import math

import torch

from mmseg.models.utils.feature_distance import feature_distance_mask, masked_feat_dist

THING_CLASSES = [6, 7, 11, 12, 13, 14, 15, 16, 17, 18]


def _features():
    f1 = torch.zeros(1, 2, 1, 2, requires_grad=True)
    f2 = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])  # cell distances 5 and 1
    return f1, f2


def test_masked_feat_dist_is_mean_l2_over_masked_cells():
    f1, f2 = _features()
    assert masked_feat_dist(f1, f2).item() == 3.0
    mask = torch.tensor([[[[True, False]]]])
    assert masked_feat_dist(f1, f2, mask).item() == 5.0


def test_masked_feat_dist_is_nan_when_mask_is_empty():
    f1, f2 = _features()
    mask = torch.zeros(1, 1, 1, 2, dtype=torch.bool)
    assert math.isnan(masked_feat_dist(f1, f2, mask).item())


def test_masked_feat_dist_empty_is_zero_option_keeps_backward():
    f1, f2 = _features()
    mask = torch.zeros(1, 1, 1, 2, dtype=torch.bool)
    dist = masked_feat_dist(f1, f2, mask, empty_is_zero=True)
    assert dist.item() == 0.0
    dist.backward()
    assert torch.equal(f1.grad, torch.zeros_like(f1))


def test_feature_distance_mask_follows_label_ratio_rule():
    gt = torch.zeros(1, 1, 8, 12, dtype=torch.long)
    gt[0, 0, :4, 0:4] = 13                     # pure car block -> selected
    gt[0, 0, :4, 4:8] = 11
    gt[0, 0, :1, 4:8] = 0                      # person at exactly 0.75 -> selected
    gt[0, 0, :4, 8:12] = 13
    gt[0, 0, :2, 8:12] = 255
    gt[0, 0, 2, 8] = 255                       # car 7/16 < 0.75 -> ignored
    gt[0, 0, 4:, 0:4] = 0                      # road: not a thing class
    gt[0, 0, 4:, 4:8] = 255                    # ignored pixels
    gt[0, 0, 4:, 8:12] = 12
    gt[0, 0, 4, 8:12] = 18                     # rider 0.75 (bicycle 0.25) -> selected
    mask = feature_distance_mask(gt, (1, 64, 2, 3), THING_CLASSES, 0.75, 19, 255)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[[[True, True, False], [False, False, True]]]]


def test_feature_distance_mask_without_classes_selects_all_cells():
    gt = torch.full((2, 1, 8, 8), 255, dtype=torch.long)
    mask = feature_distance_mask(gt, (2, 4, 2, 2), None, 0.75, 19, 255)
    assert mask.shape == (2, 1, 2, 2) and mask.all()
