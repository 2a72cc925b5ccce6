"""Multi-scale deformable attention: the sampling formula, against bilinear interpolation
written out by hand, and the module's init and gradients."""
import math

import torch

from mmseg.models.utils.ms_deform_attn import MSDeformAttn, multi_scale_deformable_attention


def bilinear(value_map, x, y):
    """value_map (D, H, W) at pixel coordinates (x, y) (pixel (i, j) has its centre at x = j,
    y = i); the four neighbours outside the map read 0."""
    _, h, w = value_map.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = torch.zeros(value_map.shape[0], dtype=value_map.dtype)
    for row, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for col, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= row < h and 0 <= col < w:
                out += wy * wx * value_map[:, row, col]
    return out


def brute_force(value, shapes, starts, locations, weights):
    """The formula of `multi_scale_deformable_attention`, one point at a time."""
    b, _, m, d = value.shape
    _, lq, _, n_levels, n_points, _ = locations.shape
    out = torch.zeros(b, lq, m * d, dtype=value.dtype)
    for bi in range(b):
        for q in range(lq):
            for head in range(m):
                for level, ((h, w), start) in enumerate(zip(shapes, starts)):
                    value_map = value[bi, start:start + h * w, head].T.reshape(d, h, w)
                    for p in range(n_points):
                        x, y = locations[bi, q, head, level, p].tolist()
                        out[bi, q, head * d:(head + 1) * d] += \
                            weights[bi, q, head, level, p] * \
                            bilinear(value_map, x * w - 0.5, y * h - 0.5)
    return out


def one_level(value_map, x, y):
    """Sample one (D, H, W) map at normalised (x, y) with weight 1: returns (D, )."""
    d, h, w = value_map.shape
    value = value_map.reshape(d, h * w).T[None, :, None]  # (1, h*w, 1, D)
    locations = torch.tensor([x, y]).view(1, 1, 1, 1, 1, 2)
    return multi_scale_deformable_attention(value, [(h, w)], [0], locations,
                                            torch.ones(1, 1, 1, 1, 1))[0, 0]


MAP = torch.arange(6.).view(1, 2, 3)  # [[0, 1, 2], [3, 4, 5]]


def test_point_at_pixel_centre_reads_that_pixel():
    # pixel (row 1, col 2) has its centre at x = 2.5 / 3, y = 1.5 / 2
    assert torch.allclose(one_level(MAP, 2.5 / 3, 1.5 / 2), torch.tensor([5.]))


def test_point_between_pixel_centres_averages_them():
    # halfway between the centres of (0, 0) and (1, 1): the mean of 0, 1, 3, 4
    assert torch.allclose(one_level(MAP, 1 / 3, 0.5), torch.tensor([2.]))


def test_points_outside_the_map_read_zero_padding():
    # on the left edge of row 1, half of the weight falls outside: 0.5 * 3
    assert torch.allclose(one_level(MAP, 0., 0.75), torch.tensor([1.5]))
    # beyond the right edge by more than half a pixel: all four neighbours are outside
    assert torch.allclose(one_level(MAP, 1.2, 0.25), torch.tensor([0.]))


def test_matches_bilinear_sum_over_heads_levels_and_points():
    shapes, starts = [(3, 4), (2, 2)], [0, 12]
    b, lq, m, d, n_points = 2, 5, 2, 3, 3
    value = torch.randn(b, 16, m, d, dtype=torch.float64)
    # some locations outside [0, 1] exercise the zero padding
    locations = torch.rand(b, lq, m, len(shapes), n_points, 2, dtype=torch.float64) * 1.4 - 0.2
    weights = torch.rand(b, lq, m, len(shapes), n_points, dtype=torch.float64)
    out = multi_scale_deformable_attention(value, shapes, starts, locations, weights)
    assert out.shape == (b, lq, m * d)
    assert torch.allclose(out, brute_force(value, shapes, starts, locations, weights))


def test_gradients_reach_values_locations_and_weights():
    value = torch.randn(1, 12 + 4, 2, 3, requires_grad=True)
    locations = (torch.rand(1, 4, 2, 2, 2, 2) * 0.8 + 0.1).requires_grad_()
    weights = torch.rand(1, 4, 2, 2, 2, requires_grad=True)
    multi_scale_deformable_attention(value, [(3, 4), (2, 2)], [0, 12], locations,
                                     weights).square().sum().backward()
    for tensor in (value, locations, weights):
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_init_spreads_heads_over_directions_at_growing_distances():
    attn = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=3)
    offsets = attn.sampling_offsets.bias.view(4, 2, 3, 2)
    # head 0 looks right, head 1 down, head 2 left, head 3 up; point p at distance p + 1
    directions = torch.tensor([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]])
    expected = directions[:, None, None] * torch.arange(1., 4.).view(1, 1, 3, 1)
    assert torch.allclose(offsets, expected.expand(4, 2, 3, 2), atol=1e-6)
    assert attn.attention_weights.weight.abs().sum() == 0
    assert attn.attention_weights.bias.abs().sum() == 0


def test_module_maps_queries_to_queries_and_trains_every_parameter():
    attn = MSDeformAttn(d_model=8, n_levels=2, n_heads=2, n_points=2, ratio=0.5)
    assert attn.value_proj.out_features == 4
    query = torch.randn(2, 5, 8)
    reference_points = torch.rand(1, 5, 1, 2)
    features = torch.randn(2, 12 + 4, 8)
    out = attn(query, reference_points, features, [(3, 4), (2, 2)], [0, 12])
    assert out.shape == (2, 5, 8)
    out.square().sum().backward()
    for name, param in attn.named_parameters():
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
