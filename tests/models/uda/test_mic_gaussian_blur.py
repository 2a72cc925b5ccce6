import random

import numpy as np
import pytest
import torch

from mmseg.models.utils.dacs_transforms import (blur_kernel_size, draw_strong_parameters,
                                                gaussian_blur)


def test_kernel_size_is_odd_ceil_of_tenth():
    sizes = {1024: 103, 512: 51, 128: 13, 100: 9, 64: 7, 60: 5, 10: 1, 31: 3}
    for size, k in sizes.items():
        assert blur_kernel_size(size) == k


def test_constant_image_is_unchanged():
    x = torch.full((2, 3, 40, 30), -0.7)
    out = gaussian_blur(0.9, x)
    assert torch.allclose(out, x, atol=1e-6)


def test_blur_only_when_draw_above_half_and_for_rgb():
    x = torch.randn(1, 3, 40, 40)  # kernel 3 (a 20 px side would give kernel 1: identity)
    assert gaussian_blur(0.5, x) is x
    assert not torch.allclose(gaussian_blur(0.51, x), x)
    one_channel = torch.randn(1, 1, 20, 20)
    assert gaussian_blur(0.9, one_channel) is one_channel


def test_blur_equals_reflect_padded_normalised_gaussian():
    x = torch.randn(1, 3, 50, 70, dtype=torch.float64)
    np.random.seed(11)
    out = gaussian_blur(0.9, x)
    np.random.seed(11)
    sigma = np.random.uniform(0.15, 1.15)
    ky, kx = 5, 7  # ceil(5) = 5, ceil(7) = 7

    def kernel(k):
        t = np.arange(k) - k // 2
        g = np.exp(-t ** 2 / (2 * sigma ** 2))
        return g / g.sum()

    img = x[0].numpy()
    padded = np.pad(img, ((0, 0), (ky // 2, ky // 2), (kx // 2, kx // 2)), mode='reflect')
    expected = np.zeros_like(img)
    gy, gx = kernel(ky), kernel(kx)
    for dy in range(ky):
        for dx in range(kx):
            expected += gy[dy] * gx[dx] * padded[:, dy:dy + 50, dx:dx + 70]
    assert np.allclose(out[0].numpy(), expected, atol=1e-10)


def test_blur_probability_is_half_and_zero_when_disabled():
    random.seed(2)
    draws = [draw_strong_parameters(0, 1, 0.2, 0.2, blur=True)['blur'] for _ in range(4000)]
    assert np.mean(np.array(draws) > 0.5) == pytest.approx(0.5, abs=0.03)
    assert all(draw_strong_parameters(0, 1, 0.2, 0.2, blur=False)['blur'] == 0
               for _ in range(10))
