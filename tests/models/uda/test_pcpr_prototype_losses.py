"""PCPR prototype losses and their weight schedule against direct computations."""
import math

import pytest
import torch

from mmseg.models.losses.prototype_contrast import (prototype_compactness_loss,
                                                    prototype_contrast_loss, proto_loss_weight)


def test_contrast_loss_is_cross_entropy_of_scaled_similarities():
    logits = torch.tensor([[0.9, 0.1, -0.2, float('-inf')],
                           [0.0, 0.5, 0.3, float('-inf')]])
    target = torch.tensor([0, 2])
    tau = 0.1
    expected = 0.0
    for row, t in zip(logits.tolist(), target.tolist()):
        denom = sum(math.exp(v / tau) for v in row if v != float('-inf'))
        expected += -math.log(math.exp(row[t] / tau) / denom)
    expected /= 2
    assert math.isclose(float(prototype_contrast_loss(logits, target, tau)), expected,
                        rel_tol=1e-5)


def test_compactness_loss_is_mean_squared_cosine_gap():
    anchors = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    protos = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # cosines 1 and 0.6 -> (0^2 + 0.4^2) / 2
    assert math.isclose(float(prototype_compactness_loss(anchors, protos)), 0.08, rel_tol=1e-6)


def test_losses_are_zero_and_differentiable_without_anchors():
    anchors = torch.zeros(0, 4, requires_grad=True)
    loss = prototype_compactness_loss(anchors, torch.zeros(0, 4)) \
        + prototype_contrast_loss(anchors @ torch.zeros(4, 6), torch.zeros(0).long(), 0.1)
    loss.backward()
    assert float(loss.detach()) == 0.0


@pytest.mark.parametrize('iteration,expected', [(0, 0.0), (1499, 0.0), (1500, 0.25),
                                                (1501, 0.5), (1503, 1.0), (5000, 1.0)])
def test_ramp_weight_is_zero_before_start_then_linear(iteration, expected):
    assert proto_loss_weight(iteration, 1500, 4, 1.0) == pytest.approx(expected)


@pytest.mark.parametrize('rampup', [0, 1])
def test_weight_without_ramp_is_base_from_start(rampup):
    assert proto_loss_weight(1499, 1500, rampup, 0.01) == 0.0
    assert proto_loss_weight(1500, 1500, rampup, 0.01) == 0.01
