"""PLF formulas (docs/method/pcpr.md, "Pseudo-label filtering (PLF)") on hand-made tensors."""
import pytest
import torch

from mmseg.models.uda.pseudo_label_filter import (PseudoLabelFilter, apply_drop_below,
                                                  combine_weights, edge_probability, edge_weight,
                                                  scale_consistency)
from mmseg.utils.errors import UserError


def _probs(rows):
    """(1, C, 1, W) probabilities from a list of W per-pixel distributions."""
    return torch.tensor(rows, dtype=torch.float).t().reshape(1, len(rows[0]), 1, len(rows))


P_LR = _probs([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
P_HR = _probs([[0.9, 0.1], [0.4, 0.6], [0.1, 0.9]])


def test_hard_consistency_is_one_where_argmax_agrees_else_inconsistent_weight():
    m = scale_consistency(P_LR, P_HR, 'hard', inconsistent_weight=0.25)
    assert torch.equal(m, torch.tensor([[[1.0, 0.25, 1.0]]]))


def test_soft_consistency_is_overlap_of_distributions():
    m = scale_consistency(P_LR, P_HR, 'soft')
    expected = torch.tensor([[[0.7 + 0.1, 0.4 + 0.4, 0.1 + 0.8]]])
    assert torch.allclose(m, expected)


@pytest.mark.parametrize('mode', ['hard', 'soft'])
def test_consistency_is_one_without_hr_prediction(mode):
    hr_valid = torch.tensor([[[True, False, True]]])
    m = scale_consistency(P_LR, P_HR, mode, hr_valid=hr_valid)
    m_everywhere = scale_consistency(P_LR, P_HR, mode)
    assert m[0, 0, 1] == 1.0 and m_everywhere[0, 0, 1] < 1.0
    assert torch.equal(m[0, 0, [0, 2]], m_everywhere[0, 0, [0, 2]])
    assert torch.equal(scale_consistency(P_LR, None, mode), torch.ones(1, 1, 3))


def _edge_loop(label, radius, stride, ignore=255):
    """E by a direct loop over the pixels of the stride-downsampled label, then upsampled."""
    low = label[:, ::stride, ::stride]
    b_n, h, w = low.shape
    low_e = torch.zeros(b_n, h, w)
    for b in range(b_n):
        for i in range(h):
            for j in range(w):
                centre = int(low[b, i, j])
                if centre == ignore:
                    low_e[b, i, j] = 1.0
                    continue
                valid = differ = 0
                for y in range(max(0, i - radius), min(h, i + radius + 1)):
                    for x in range(max(0, j - radius), min(w, j + radius + 1)):
                        other = int(low[b, y, x])
                        if other != ignore:
                            valid += 1
                            differ += other != centre
                low_e[b, i, j] = differ / valid
    full = torch.zeros(label.shape)
    for i in range(label.shape[1]):
        for j in range(label.shape[2]):
            full[:, i, j] = low_e[:, i // stride, j // stride]
    return full


@pytest.mark.parametrize('radius,stride,size', [(1, 1, (9, 11)), (2, 4, (24, 28)),
                                                (1, 4, (18, 22))])
def test_edge_probability_matches_direct_loop_with_ignore_and_borders(radius, stride, size):
    label = torch.randint(0, 3, (2, *size))
    label[torch.rand(label.shape) < 0.15] = 255
    got = edge_probability(label, radius=radius, stride=stride)
    assert torch.allclose(got, _edge_loop(label, radius, stride), atol=1e-6)


def test_edge_probability_of_uniform_label_is_zero_and_ignore_centre_is_one():
    label = torch.zeros(1, 8, 8, dtype=torch.long)
    label[0, 0, 0] = 255
    e = edge_probability(label, radius=3, stride=4, num_classes=19)
    assert e[0, 0, 0] == 1.0 and e[0, 0:4, 0:4].eq(1.0).all()
    assert e[0, 4:, 4:].eq(0.0).all()


def test_edge_weight_is_one_minus_e_to_the_gamma():
    e = torch.tensor([0.0, 0.5, 1.0])
    assert torch.allclose(edge_weight(e, 2.0), torch.tensor([1.0, 0.25, 0.0]))
    assert torch.equal(edge_weight(e, 0.0), torch.ones(3))


def test_combined_weight_is_product_of_q_maps_and_valid_region():
    m_cons = torch.tensor([[[1.0, 0.0, 1.0, 0.5]]])
    m_edge = torch.tensor([[[0.5, 1.0, 1.0, 1.0]]])
    valid = torch.tensor([[[1.0, 1.0, 0.0, 1.0]]])
    w = combine_weights(torch.tensor(0.8), m_cons, m_edge, valid)
    assert torch.allclose(w, torch.tensor([[[0.4, 0.0, 0.0, 0.4]]]))


def test_drop_below_sets_ignore_strictly_below_threshold():
    label = torch.tensor([[[1, 2, 3, 4]]])
    w = torch.tensor([[[0.1, 0.3, 0.2999, 0.0]]])
    assert torch.equal(apply_drop_below(label, w, 0.3), torch.tensor([[[255, 2, 255, 255]]]))


def test_drop_below_zero_drops_nothing():
    label = torch.tensor([[[1, 2]]])
    assert torch.equal(apply_drop_below(label, torch.zeros(1, 1, 2), 0.0), label)


def _logits(labels, num_classes=3):
    """(1, C, H, W) logits whose argmax is `labels` (H, W), confident (softmax max ~0.98)."""
    return torch.nn.functional.one_hot(torch.tensor(labels), num_classes).permute(2, 0, 1)[None] \
        .float() * 5.0


def test_filter_weights_and_drops_disagreeing_pixels():
    fused = _logits([[0, 0, 0, 0], [0, 0, 0, 0]])
    lr = _logits([[0, 0, 0, 0], [0, 0, 0, 0]])
    hr = _logits([[0, 1, 0, 0], [0, 0, 0, 0]])
    plf = PseudoLabelFilter(use_consistency=True, drop_below=0.1)
    label, weight, stats, maps = plf(fused, lr, hr, torch.tensor(0.5))
    expected_w = torch.full((1, 2, 4), 0.5)
    expected_w[0, 0, 1] = 0.0
    assert torch.equal(weight, expected_w)
    assert label[0, 0, 1] == 255 and (label.flatten()[[0, 2, 3, 4]] == 0).all()
    assert torch.isclose(stats['plf.kept'], torch.tensor(7 / 8))
    assert torch.isclose(stats['plf.m_cons'], torch.tensor(7 / 8))
    assert torch.equal(maps['m_cons'], (expected_w > 0).float())


def test_filter_edge_map_lowers_weight_at_label_boundary():
    fused = _logits([[0, 0, 1, 1]] * 4)
    plf = PseudoLabelFilter(use_edge=True, edge_radius=1, edge_stride=1)
    _, weight, stats, maps = plf(fused, None, None, torch.tensor(1.0))
    # Column 1 on an inner row sees 3x3 = 9 pixels, 3 of class 1: w = 1 - 3/9.
    assert torch.isclose(weight[0, 1, 1], torch.tensor(6 / 9))
    assert weight[0, 1, 0] == 1.0
    assert torch.equal(maps['reliability'], maps['m_edge'])
    assert torch.isclose(stats['plf.m_edge'], maps['m_edge'].mean())


def test_filter_accuracy_before_and_after_filtering():
    fused = _logits([[0, 0, 1, 1]])
    lr = _logits([[0, 0, 1, 1]])
    hr = _logits([[0, 1, 1, 0]])  # disagrees on pixels 1 and 3
    gt = torch.tensor([[[0, 1, 1, 255]]])  # pixel 1 wrong, pixel 3 unlabelled
    plf = PseudoLabelFilter(use_consistency=True)
    _, _, stats, _ = plf(fused, lr, hr, torch.tensor(0.9), gt=gt)
    assert torch.isclose(stats['plf.acc_before'], torch.tensor(2 / 3))
    # Kept and labelled: pixels 0 and 2, both correct.
    assert torch.isclose(stats['plf.acc_after'], torch.tensor(1.0))
    assert torch.isclose(stats['plf.acc_weighted'], torch.tensor(1.0))
    assert torch.isclose(stats['plf.q'], torch.tensor(0.9))


def test_filter_valid_region_zeroes_weight():
    fused = _logits([[0, 0]])
    _, weight, _, _ = PseudoLabelFilter(use_edge=False)(
        fused, None, None, torch.tensor(0.7), valid_region=torch.tensor([[[1.0, 0.0]]]))
    assert torch.allclose(weight, torch.tensor([[[0.7, 0.0]]]))


def test_filter_from_cfg_rejects_unknown_key_and_bad_mode():
    with pytest.raises(UserError, match=r"^unknown config key 'uda\.plf\.edge_radus'\. "
                                        r"Did you mean 'edge_radius'\?"):
        PseudoLabelFilter.from_cfg(dict(edge_radus=2))
    with pytest.raises(UserError, match='consistency_mode'):
        PseudoLabelFilter.from_cfg(dict(consistency_mode='fuzzy'))
    assert PseudoLabelFilter.from_cfg(dict(edge_radius=2)).edge_radius == 2
