"""FPC building blocks (docs/method/pcpr.md, "Finer prototype construction (FPC)") on hand-made
tensors."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmseg.models.builder import build_head
from mmseg.models.uda.prototypes import (PrototypeMemory, denoise_labels, downscale_labels,
                                         kmeanspp_init, sample_anchors, sinkhorn_knopp)
from mmseg.utils.errors import UserError


def test_projection_head_is_registered_and_outputs_unit_vectors():
    head = build_head(dict(type='ProjectionHead', in_channels=8, proj_dim=16))
    out = head(torch.randn(2, 8, 4, 5))
    assert out.shape == (2, 16, 4, 5)
    assert torch.allclose(out.norm(dim=1), torch.ones(2, 4, 5), atol=1e-5)


def test_downscale_labels_keeps_pure_blocks_and_ignores_mixed_ones():
    label = torch.tensor([[1, 1, 2, 2],
                          [1, 1, 2, 3],
                          [0, 0, 255, 255],
                          [0, 4, 255, 5]])[None, None]
    out = downscale_labels(label, (2, 2), min_ratio=0.75, num_classes=6)
    # 4/4 ones; 3/4 twos; 3/4 zeros; 3/4 ignore stays ignore.
    assert torch.equal(out, torch.tensor([[[[1, 2], [0, 255]]]]))
    strict = downscale_labels(label, (2, 2), min_ratio=1.0, num_classes=6)
    assert torch.equal(strict, torch.tensor([[[[1, 255], [255, 255]]]]))


def test_downscale_labels_rejects_non_integer_ratio():
    with pytest.raises(UserError, match='integer multiple'):
        downscale_labels(torch.zeros(1, 1, 10, 8, dtype=torch.long), (4, 2), 0.75, 19)
    with pytest.raises(UserError, match='integer multiple'):
        downscale_labels(torch.zeros(1, 1, 8, 8, dtype=torch.long), (4, 2), 0.75, 19)


def test_denoise_labels_drops_only_unreliable_target_pixels():
    label = torch.tensor([[[[1, 2, 3, 4]]]])
    reliability = torch.tensor([[[0.4, 0.9, 0.9, 0.1]]])
    confidence = torch.tensor([[[0.99, 0.5, 0.99, 0.1]]])
    from_target = torch.tensor([[[True, True, True, False]]])
    out = denoise_labels(label, reliability, confidence, from_target, 0.5, 0.968)
    assert torch.equal(out, torch.tensor([[[[255, 255, 3, 4]]]]))


def _anchor_pool():
    """Labels/preds with known per-class hard/easy counts (hard = pred != label)."""
    spec = {0: (10, 20), 1: (4, 4), 2: (2, 48), 3: (40, 3), 4: (6, 6)}  # class: (hard, easy)
    labels, preds = [], []
    for cls, (n_hard, n_easy) in spec.items():
        labels += [cls] * (n_hard + n_easy)
        preds += [(cls + 1) % 5] * n_hard + [cls] * n_easy
    labels += [255] * 7
    preds += [0] * 7
    perm = torch.randperm(len(labels))
    return torch.tensor(labels)[perm], torch.tensor(preds)[perm]


def _picked_counts(labels, preds, idx):
    counts = {}
    for i in idx.tolist():
        key = (int(labels[i]), bool(preds[i] != labels[i]))
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_anchor_sampling_balances_hard_and_easy_and_skips_small_classes():
    labels, preds = _anchor_pool()
    idx = sample_anchors(labels, preds, max_samples=1000, max_views=20, min_views=10)
    assert len(set(idx.tolist())) == len(idx)
    counts = _picked_counts(labels, preds, idx)
    # Class 1 (8 pixels) is skipped; class 4 (12 < 20) is taken whole; 2 has only 2 hard,
    # 3 only 3 easy: the other kind fills up.
    assert counts == {(0, True): 10, (0, False): 10, (2, True): 2, (2, False): 18,
                      (3, True): 17, (3, False): 3, (4, True): 6, (4, False): 6}


def test_anchor_sampling_budget_is_max_samples_over_present_classes():
    labels, preds = _anchor_pool()
    # 4 classes kept -> budget min(20, 30 // 4 = 7) = 7: 3 hard + 4 easy where possible.
    idx = sample_anchors(labels, preds, max_samples=30, max_views=20, min_views=10)
    counts = _picked_counts(labels, preds, idx)
    assert counts == {(0, True): 3, (0, False): 4, (2, True): 2, (2, False): 5,
                      (3, True): 4, (3, False): 3, (4, True): 3, (4, False): 4}
    assert len(idx) == 28


def test_anchor_sampling_is_reproducible_with_generator_and_empty_without_classes():
    labels, preds = _anchor_pool()
    a = sample_anchors(labels, preds, 30, 20, 10, generator=torch.Generator().manual_seed(3))
    b = sample_anchors(labels, preds, 30, 20, 10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert sample_anchors(labels, preds, 30, 20, min_views=100).numel() == 0
    assert sample_anchors(torch.full((5,), 255), torch.zeros(5).long(), 30, 20, 1).numel() == 0


def test_sinkhorn_rows_sum_to_one_and_columns_balance():
    scores = F.normalize(torch.randn(60, 8), dim=1) @ F.normalize(torch.randn(6, 8), dim=1).t()
    q = sinkhorn_knopp(scores, iters=3, epsilon=0.05)
    assert torch.allclose(q.sum(dim=1), torch.ones(60), atol=1e-5)
    softmax_imbalance = (torch.softmax(scores / 0.05, 1).sum(0) - 10).abs().max()
    assert (q.sum(0) - 10).abs().max() < softmax_imbalance
    converged = sinkhorn_knopp(scores, iters=200, epsilon=0.05)
    assert torch.allclose(converged.sum(dim=0), torch.full((6,), 10.0), atol=1e-2)


def test_sinkhorn_spreads_samples_that_all_prefer_one_cluster():
    # All 4 samples prefer cluster 0; samples 2, 3 like cluster 1 a little more than 0, 1 do.
    scores = torch.tensor([[0.9, 0.0], [0.9, 0.1], [0.9, 0.7], [0.9, 0.8]])
    assert torch.equal(sinkhorn_knopp(scores).argmax(1), torch.tensor([0, 0, 1, 1]))


def test_kmeanspp_picks_distinct_points_even_with_duplicates():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    idx = kmeanspp_init(x, 4, torch.Generator().manual_seed(0))
    assert len(set(idx.tolist())) == 4
    distinct = kmeanspp_init(x, 2, torch.Generator().manual_seed(0))
    assert not torch.equal(x[distinct[0]], x[distinct[1]])


def test_kmeanspp_seeds_one_point_per_separated_cluster():
    centres = torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    x = (centres[:, None] + 0.01 * torch.randn(3, 5, 2)).reshape(15, 2)
    idx = kmeanspp_init(x, 3, torch.Generator().manual_seed(1))
    assert sorted((idx // 5).tolist()) == [0, 1, 2]


def _unit(*v):
    t = torch.tensor(v, dtype=torch.float)
    return t / t.norm()


def _memory(momentum=0.5):
    """2 classes x 2 sub-prototypes in 3-D; class 0 initialised with e_x and e_y."""
    memory = PrototypeMemory(num_classes=2, num_prototypes=2, proj_dim=3, momentum=momentum)
    memory.prototypes[0] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    memory.initialized[0] = True
    return memory


def test_momentum_update_matches_hand_computation():
    memory = _memory(momentum=0.5)
    placeholder_1 = memory.prototypes[1].clone()
    anchors = torch.stack([_unit(1, 0, 1), _unit(0, 0, 1), _unit(1, 1, 0)])
    labels = torch.tensor([0, 0, 1])
    memory.update(anchors, labels, torch.tensor([0, 0, -1]))
    # mean of (1/r2, 0, 1/r2) and (0, 0, 1) is along (1, 0, 1 + r2); normalise, then
    # 0.5 * (1, 0, 0) + 0.5 * t, normalise.
    r2 = math.sqrt(2)
    t = _unit(1, 0, 1 + r2)
    expected = F.normalize(0.5 * torch.tensor([1.0, 0.0, 0.0]) + 0.5 * t, dim=0)
    assert torch.allclose(memory.prototypes[0, 0], expected, atol=1e-6)
    assert torch.equal(memory.prototypes[0, 1], torch.tensor([0.0, 1.0, 0.0]))
    # One anchor of class 1 < K = 2: still not initialised, placeholder untouched.
    assert not memory.initialized[1] and torch.equal(memory.prototypes[1], placeholder_1)


def test_class_is_initialised_from_its_anchors_once_it_has_k():
    memory = _memory()
    anchors = torch.stack([_unit(1, 0, 1), _unit(0, 1, 1), _unit(1, 1, 1)])
    labels = torch.tensor([1, 1, 1])
    assert torch.equal(memory.assign(anchors, labels), torch.tensor([-1, -1, -1]))
    memory.update(anchors, labels, torch.tensor([-1, -1, -1]))
    assert memory.initialized.tolist() == [True, True]
    protos = memory.prototypes[1]
    matches = [[torch.allclose(p, a) for a in anchors] for p in protos]
    assert all(any(row) for row in matches) and not torch.allclose(protos[0], protos[1])


def test_assign_picks_nearest_sub_prototype_of_own_class_only():
    memory = _memory()
    anchors = torch.stack([_unit(1, 0.1, 0), _unit(0.1, 1, 0), _unit(0.9, 0.2, 0.1)])
    assert torch.equal(memory.assign(anchors, torch.tensor([0, 0, 1])), torch.tensor([0, 1, -1]))


def test_logits_are_cosines_with_uninitialised_classes_masked():
    memory = _memory()
    anchors = torch.stack([_unit(1, 1, 0), _unit(0, 0, 1)])
    logits = memory.logits(anchors)
    r = 1 / math.sqrt(2)
    assert logits.shape == (2, 4)
    assert torch.allclose(logits[:, :2], torch.tensor([[r, r], [0.0, 0.0]]), atol=1e-6)
    assert torch.isinf(logits[:, 2:]).all() and (logits[:, 2:] < 0).all()


def test_prototypes_stay_unit_norm_over_many_updates():
    memory = PrototypeMemory(num_classes=3, num_prototypes=4, proj_dim=8, momentum=0.9)
    for _ in range(20):
        anchors = F.normalize(torch.randn(40, 8), dim=1)
        labels = torch.randint(0, 3, (40,))
        memory.update(anchors, labels, memory.assign(anchors, labels))
    assert memory.initialized.all()
    assert torch.allclose(memory.prototypes.norm(dim=-1), torch.ones(3, 4), atol=1e-5)


def test_prototype_buffers_are_saved_and_restored_by_state_dict():
    memory = _memory()
    state = memory.state_dict()
    assert set(state) == {'prototypes', 'initialized'}
    fresh = PrototypeMemory(num_classes=2, num_prototypes=2, proj_dim=3)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.prototypes, memory.prototypes)
    assert fresh.initialized.tolist() == [True, False]


def test_sample_anchors_gives_the_same_draw_with_or_without_num_classes():
    labels = torch.tensor([0, 0, 1, 1, 1, 3, 255, 3, 3, 0] * 3)
    preds = torch.tensor([0, 1, 1, 2, 1, 3, 0, 0, 3, 0] * 3)
    found = sample_anchors(labels, preds, 64, 5, 2, torch.Generator().manual_seed(0))
    given = sample_anchors(labels, preds, 64, 5, 2, torch.Generator().manual_seed(0),
                           num_classes=19)
    assert torch.equal(found, given)
    assert sample_anchors(torch.full((4,), 255), torch.zeros(4, dtype=torch.long), 8, 4, 1,
                          num_classes=19).numel() == 0
