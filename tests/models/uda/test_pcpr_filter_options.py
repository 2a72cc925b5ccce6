"""PLF options beyond the spec: prototype agreement `m_proto` and per-image renormalisation,
each against a direct computation, and their wiring into the filter and the PCPR step."""
import math

import pytest
import torch

from mmseg.models.uda.prototypes import PrototypeMemory
from mmseg.models.uda.pseudo_label_filter import (PseudoLabelFilter, prototype_agreement,
                                                  renormalize_weights)
from mmseg.utils.errors import UserError

NEG = float('-inf')


def _scores(rows):
    """(1, C, 1, W) class scores from W per-pixel score lists."""
    return torch.tensor(rows).t().reshape(1, len(rows[0]), 1, len(rows))


def test_soft_prototype_agreement_is_exp_of_gap_to_best_class_over_temperature():
    scores = _scores([[0.9, 0.5, 0.1], [0.2, 0.8, 0.6], [0.3, 0.3, 0.7]])
    label = torch.tensor([[[0, 2, 1]]])
    m = prototype_agreement(scores, label, 'soft', temperature=0.2)
    expected = [1.0, math.exp((0.6 - 0.8) / 0.2), math.exp((0.3 - 0.7) / 0.2)]
    assert torch.allclose(m, torch.tensor([[expected]]), atol=1e-6)


def test_hard_prototype_agreement_is_one_only_for_the_nearest_class():
    scores = _scores([[0.9, 0.5], [0.2, 0.8], [0.4, 0.4]])
    label = torch.tensor([[[0, 0, 1]]])
    m = prototype_agreement(scores, label, 'hard')
    assert torch.equal(m, torch.tensor([[[1.0, 0.0, 1.0]]]))  # a tie counts as nearest


def test_prototype_agreement_has_no_opinion_on_classes_without_prototypes():
    scores = _scores([[0.9, NEG], [NEG, NEG], [0.1, NEG]])
    label = torch.tensor([[[1, 0, 0]]])
    for mode in ('soft', 'hard'):
        m = prototype_agreement(scores, label, mode)
        assert torch.equal(m, torch.ones(1, 1, 3)), mode


def test_renormalised_weights_sum_to_the_reference_per_image():
    torch.manual_seed(0)
    weight = torch.rand(3, 4, 5)
    weight[1] = 0.0
    reference = torch.full((3, 4, 5), 0.6)
    out = renormalize_weights(weight, reference)
    assert torch.allclose(out[0].sum(), reference[0].sum())
    assert torch.allclose(out[2].sum(), reference[2].sum())
    assert torch.equal(out[1], torch.zeros(4, 5))
    # Only a per-image scale: ratios between pixels are kept.
    assert torch.allclose(out[0] / out[0, 0, 0], weight[0] / weight[0, 0, 0])


def _logits(labels, num_classes=3):
    return torch.nn.functional.one_hot(torch.tensor(labels), num_classes).permute(2, 0, 1)[None] \
        .float() * 5.0


def test_filter_multiplies_by_prototype_agreement_then_renormalises():
    fused = _logits([[0, 1, 1, 2]])
    scores = _scores([[0.9, 0.1, 0.1], [0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [NEG, NEG, NEG]])
    plf = PseudoLabelFilter(use_consistency=False, use_edge=False, proto_agreement='hard',
                            renormalize=True)
    _, weight, stats, maps = plf(fused, None, None, torch.tensor(0.5), proto_scores=scores)
    m_proto = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
    assert torch.equal(maps['m_proto'], m_proto)
    assert torch.equal(maps['reliability'], m_proto)
    # 0.5 * m_proto sums to 1.5; renormalised to MIC's 4 * 0.5 = 2.
    assert torch.allclose(weight, m_proto * 0.5 * 2.0 / 1.5)
    assert torch.isclose(stats['plf.m_proto'], torch.tensor(0.75))


def test_filter_rejects_bad_proto_mode_and_missing_scores():
    with pytest.raises(UserError, match='proto_agreement'):
        PseudoLabelFilter.from_cfg(dict(proto_agreement='fuzzy'))
    plf = PseudoLabelFilter(proto_agreement='soft')
    with pytest.raises(UserError, match='fpc'):
        plf(_logits([[0, 1]]), None, None, torch.tensor(1.0))


def test_memory_class_scores_are_max_over_sub_prototypes_and_mask_uninitialised():
    torch.manual_seed(0)
    memory = PrototypeMemory(num_classes=3, num_prototypes=2, proj_dim=4)
    memory.prototypes.copy_(torch.nn.functional.normalize(torch.randn(3, 2, 4), dim=-1))
    memory.initialized[:] = torch.tensor([True, False, True])
    emb = torch.nn.functional.normalize(torch.randn(2, 4, 3, 5), dim=1)
    scores = memory.class_scores(emb)
    for b in range(2):
        for i in range(3):
            for j in range(5):
                for c in (0, 2):
                    direct = max(float(emb[b, :, i, j] @ memory.prototypes[c, k]) for k in (0, 1))
                    assert abs(float(scores[b, c, i, j]) - direct) < 1e-6
    assert torch.isinf(scores[:, 1]).all()
    resized = memory.class_scores(emb, size=(6, 10))
    assert resized.shape == (2, 3, 6, 10)
    assert torch.isfinite(resized[:, [0, 2]]).all() and torch.isinf(resized[:, 1]).all()


def test_inter_class_similarity_is_mean_cosine_of_class_means_over_initialised_pairs():
    torch.manual_seed(1)
    memory = PrototypeMemory(num_classes=4, num_prototypes=3, proj_dim=5)
    assert memory.inter_class_similarity() == 0.0  # no class initialised
    memory.prototypes.copy_(torch.nn.functional.normalize(torch.randn(4, 3, 5), dim=-1))
    memory.initialized[:] = torch.tensor([True, True, False, True])
    means = [torch.nn.functional.normalize(memory.prototypes[c].mean(0), dim=0) for c in range(4)]
    pairs = [(a, b) for a in (0, 1, 3) for b in (0, 1, 3) if a != b]
    direct = sum(float(means[a] @ means[b]) for a, b in pairs) / len(pairs)
    assert abs(float(memory.inter_class_similarity()) - direct) < 1e-6


def _spec_filter_inputs():
    """Teacher logits whose LR and HR predictions disagree on the last pixel (m_cons 0 there)."""
    fused = _logits([[0, 1, 1, 2]])
    lr, hr = _logits([[0, 1, 1, 2]]), _logits([[0, 1, 1, 0]])
    return fused, lr, hr, torch.tensor(0.5)


def test_filter_on_anchors_only_leaves_the_loss_weights_and_labels_as_mic_s():
    fused, lr, hr, q = _spec_filter_inputs()
    plf = PseudoLabelFilter(use_consistency=True, use_edge=True, drop_below=0.1,
                            apply_to='anchors')
    label, weight, stats, maps = plf(fused, lr, hr, q)
    assert torch.equal(weight, torch.full((1, 1, 4), 0.5))  # MIC's q everywhere
    assert torch.equal(label, fused.argmax(1))  # nothing dropped to ignore
    m_cons = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    assert torch.equal(maps['m_cons'], m_cons)
    assert torch.equal(maps['reliability'], m_cons * maps['m_edge'])
    # The log still describes the filter's own judgement.
    both = PseudoLabelFilter(use_consistency=True, use_edge=True, drop_below=0.1)(fused, lr, hr, q)
    assert stats['plf.kept'] == both.stats['plf.kept'] < 1


def test_filter_on_the_loss_only_lets_every_pixel_be_an_anchor():
    fused, lr, hr, q = _spec_filter_inputs()
    both = PseudoLabelFilter(use_consistency=True, use_edge=True)(fused, lr, hr, q)
    on_loss = PseudoLabelFilter(use_consistency=True, use_edge=True, apply_to='loss')
    loss = on_loss(fused, lr, hr, q)
    assert torch.equal(loss.pseudo_weight, both.pseudo_weight)
    assert both.pseudo_weight[0, 0, 3] == 0
    assert torch.equal(loss.maps['reliability'], torch.ones(1, 1, 4))


def test_filter_logs_the_accuracy_of_the_pixels_it_drops():
    fused, lr, hr, q = _spec_filter_inputs()
    gt = torch.tensor([[[0, 1, 2, 0]]])  # right, right, wrong, wrong (the dropped one)
    stats = PseudoLabelFilter(use_consistency=True)(fused, lr, hr, q, gt=gt).stats
    assert stats['plf.acc_after'].item() == pytest.approx(2 / 3)
    assert stats['plf.acc_dropped'].item() == pytest.approx(0.0)


def test_unknown_apply_to_is_one_clear_error():
    with pytest.raises(UserError, match="apply_to must be one of both, loss, anchors"):
        PseudoLabelFilter.from_cfg(dict(apply_to='labels'))
