import random

import pytest
import torch

from mmseg.models.utils.dacs_transforms import (adjust_brightness, adjust_contrast, adjust_hue,
                                                adjust_saturation, apply_color_jitter,
                                                color_jitter, denorm, draw_strong_parameters,
                                                renorm, sample_jitter_factors)
from mmseg.utils.errors import UserError

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def _pixel(r, g, b):
    return torch.tensor([r, g, b], dtype=torch.float32).view(1, 3, 1, 1)


def test_denorm_and_renorm_formulas():
    x = torch.tensor([0.0, 1.0, -1.0]).view(1, 3, 1, 1)
    expected = torch.tensor([123.675, 116.28 + 57.12, 103.53 - 57.375]).view(1, 3, 1, 1) / 255
    assert torch.allclose(denorm(x, MEAN, STD), expected)
    assert torch.allclose(renorm(expected, MEAN, STD), x, atol=1e-5)


def test_brightness_is_additive_and_clamped():
    x = torch.tensor([0.5, 0.9, 0.1]).view(1, 3, 1, 1)
    out = adjust_brightness(x, torch.tensor([1.2]))
    assert torch.allclose(out.flatten(), torch.tensor([0.7, 1.0, 0.3]))
    out = adjust_brightness(x, torch.tensor([0.8]))
    assert torch.allclose(out.flatten(), torch.tensor([0.3, 0.7, 0.0]))


def test_contrast_is_a_pure_scale_without_mean_subtraction():
    x = torch.tensor([0.2, 0.6, 0.8]).view(1, 3, 1, 1)
    out = adjust_contrast(x, torch.tensor([1.5]))
    assert torch.allclose(out.flatten(), torch.tensor([0.3, 0.9, 1.0]))


def test_saturation_scales_hsv_saturation():
    # (1, .5, .5): h=0, s=.5, v=1; s*.5 = .25 -> min channel v*(1-s) = .75
    out = adjust_saturation(_pixel(1, 0.5, 0.5), torch.tensor([0.5]))
    assert torch.allclose(out.flatten(), torch.tensor([1.0, 0.75, 0.75]), atol=1e-6)
    out = adjust_saturation(_pixel(1, 0.5, 0.5), torch.tensor([3.0]))  # s clamped to 1
    assert torch.allclose(out.flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    grey = _pixel(0.4, 0.4, 0.4)
    assert torch.allclose(adjust_saturation(grey, torch.tensor([1.2])), grey)


def test_hue_shifts_angle_by_factor_turns_modulo_2pi():
    red = _pixel(1, 0, 0)
    assert torch.allclose(adjust_hue(red, torch.tensor([1 / 3])).flatten(),
                          torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)
    # -1/6 turn wraps to 300 degrees: magenta
    assert torch.allclose(adjust_hue(red, torch.tensor([-1 / 6])).flatten(),
                          torch.tensor([1.0, 0.0, 1.0]), atol=1e-5)
    # +0.2 turn = 72 degrees: sector 1 with f = 0.2 -> r = 1 - 0.2 = 0.8
    assert torch.allclose(adjust_hue(red, torch.tensor([0.2])).flatten(),
                          torch.tensor([0.8, 1.0, 0.0]), atol=1e-5)


def test_factors_are_per_sample():
    x = torch.full((2, 3, 1, 1), 0.5)
    out = adjust_brightness(x, torch.tensor([1.1, 0.9]))
    assert torch.allclose(out[:, 0].flatten(), torch.tensor([0.6, 0.4]))


def test_ops_follow_the_given_order():
    x = torch.full((1, 3, 1, 1), 0.5)
    factors = torch.tensor([[1.2], [1.5], [1.0], [0.0]])
    # brightness then contrast: (0.5 + 0.2) * 1.5 -> clamp 1; contrast then brightness: 0.95
    assert torch.allclose(apply_color_jitter(x, factors, [0, 1, 2, 3]), torch.ones(1, 3, 1, 1))
    assert torch.allclose(apply_color_jitter(x, factors, [1, 0, 3, 2]),
                          torch.full((1, 3, 1, 1), 0.95))


def test_factor_ranges_follow_strength():
    factors, order = sample_jitter_factors(20000, 0.2)
    assert sorted(order) == [0, 1, 2, 3]
    for i in range(3):
        assert 0.8 <= factors[i].min() and factors[i].max() <= 1.2
        assert factors[i].mean().item() == pytest.approx(1.0, abs=0.01)
    assert -0.2 <= factors[3].min() and factors[3].max() <= 0.2
    with pytest.raises(UserError, match='color_jitter_strength'):
        sample_jitter_factors(1, 0.7)


def test_color_jitter_draws_brightness_contrast_hue_saturation_then_order():
    """kornia 0.5.8's random_color_jitter_generator draws hue before saturation."""
    data = torch.randn(2, 3, 4, 4)
    torch.manual_seed(5)
    out = color_jitter(0.9, MEAN, STD, data, s=0.2, p=0.2)
    torch.manual_seed(5)
    b, c = (0.8 + torch.rand(2) * 0.4 for _ in range(2))
    h = -0.2 + torch.rand(2) * 0.4
    s = 0.8 + torch.rand(2) * 0.4
    order = torch.randperm(4).tolist()
    img = denorm(data, MEAN, STD)
    ops = {0: lambda x: (x + (b.view(-1, 1, 1, 1) - 1)).clamp(0, 1),
           1: lambda x: (x * c.view(-1, 1, 1, 1)).clamp(0, 1),
           2: lambda x: adjust_saturation(x, s),
           3: lambda x: adjust_hue(x, h)}
    for idx in order:
        img = ops[idx](img)
    assert torch.allclose(out, renorm(img, MEAN, STD), atol=1e-5)
    assert torch.equal(data, data.clone()), 'input is not modified'


def test_jitter_order_is_random_per_call():
    orders = set()
    for _ in range(30):
        orders.add(tuple(sample_jitter_factors(1, 0.2)[1]))
    assert len(orders) > 3


def test_color_jitter_skipped_when_draw_not_above_p():
    data = torch.randn(1, 3, 2, 2)
    assert color_jitter(0.2, MEAN, STD, data, p=0.2) is data
    gray = torch.randn(1, 1, 2, 2)
    assert color_jitter(0.9, MEAN, STD, gray, p=0.2) is gray


def test_color_jitter_probability_is_one_minus_p():
    random.seed(1)
    data = torch.zeros(1, 3, 1, 1)
    applied = 0
    n = 2000
    for _ in range(n):
        param = draw_strong_parameters(MEAN, STD, 0.2, 0.2, blur=False)
        applied += color_jitter(param['color_jitter'], MEAN, STD, data, p=0.2) is not data
    assert applied / n == pytest.approx(0.8, abs=0.03)
