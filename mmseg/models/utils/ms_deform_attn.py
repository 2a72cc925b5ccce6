"""Multi-scale deformable attention (Deformable DETR), in plain PyTorch.

Each query attends to a few points per head and level, placed around its reference point by
learned offsets, instead of to every key. The sampling is `F.grid_sample`, so no compiled
operator is needed (the CUDA kernel of Deformable DETR computes the same sums).
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def multi_scale_deformable_attention(value: Tensor, spatial_shapes: Sequence[Tuple[int, int]],
                                     level_start_index: Sequence[int],
                                     sampling_locations: Tensor,
                                     attention_weights: Tensor) -> Tensor:
    """Weighted sum of values sampled bilinearly at fractional locations of several maps.

    With V_l the value map of level l, head m, reshaped to (D, H_l, W_l), and (x, y) a sampling
    location in [0, 1] (0 and 1 are the outer edges of the map, pixel centres are at
    (i + 0.5) / W_l):

        out[b, q, m] = sum_l sum_p A[b, q, m, l, p] * bilinear(V_l, x * W_l - 0.5, y * H_l - 0.5)

    where `bilinear` reads zero outside the map (`grid_sample` with `align_corners=False` and
    zero padding, as in Deformable DETR's PyTorch reference).

    Args:
        value: (B, S, M, D) values of all levels, flattened row-major and concatenated;
            S = sum_l H_l * W_l, M heads of D channels.
        spatial_shapes: (H_l, W_l) of each of the L levels, as Python ints (no device sync).
        level_start_index: offset of each level's first value in S.
        sampling_locations: (B, Lq, M, L, P, 2) normalised (x, y) of P points per level.
        attention_weights: (B, Lq, M, L, P) weight of each point (softmax-normalised over
            L * P by the caller).

    Returns:
        (B, Lq, M * D), the heads concatenated.
    """
    b, _, m, d = value.shape
    _, lq, _, n_levels, n_points, _ = sampling_locations.shape
    grids = 2 * sampling_locations - 1  # grid_sample's coordinates span [-1, 1]
    samples = []
    for level, ((h, w), start) in enumerate(zip(spatial_shapes, level_start_index)):
        # (B, h*w, M, D) -> (B*M, D, h, w)
        value_l = value[:, start:start + h * w].flatten(2).transpose(1, 2).reshape(b * m, d, h, w)
        # (B, Lq, M, P, 2) -> (B*M, Lq, P, 2)
        grid_l = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        samples.append(F.grid_sample(value_l, grid_l, mode='bilinear', padding_mode='zeros',
                                     align_corners=False))  # (B*M, D, Lq, P)
    # (B, Lq, M, L, P) -> (B*M, 1, Lq, L*P)
    weights = attention_weights.transpose(1, 2).reshape(b * m, 1, lq, n_levels * n_points)
    out = (torch.stack(samples, dim=-2).flatten(-2) * weights).sum(-1)  # (B*M, D, Lq)
    return out.view(b, m * d, lq).transpose(1, 2)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention: queries attend to sampled points of flattened maps.

    Offsets and weights are predicted from the query; the values are projected to
    `int(d_model * ratio)` channels (ViT-Adapter's `deform_ratio`, which halves the cost of
    sampling) and projected back to `d_model`.

    Args:
        d_model: channels of queries and input features.
        n_levels: number of feature levels attended to.
        n_heads: attention heads; must divide `int(d_model * ratio)`.
        n_points: sampling points per head and level.
        ratio: value channels relative to `d_model`.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8,
                 n_points: int = 4, ratio: float = 1.0):
        super().__init__()
        value_dim = int(d_model * ratio)
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, value_dim)
        self.output_proj = nn.Linear(value_dim, d_model)
        self.init_weights()

    def init_weights(self) -> None:
        """Deformable DETR's init: head m starts sampling along direction 2 pi m / n_heads at
        distances 1..P (in pixels of each level), with uniform weights over its points."""
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2 * math.pi / self.n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]  # onto the square of radius 1
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(self, query: Tensor, reference_points: Tensor, features: Tensor,
                spatial_shapes: List[Tuple[int, int]], level_start_index: List[int]) -> Tensor:
        """Attend from each query around its reference point.

        Args:
            query: (B, Lq, d_model).
            reference_points: (B or 1, Lq, n_levels or 1, 2) normalised (x, y) in [0, 1];
                offsets are in pixels of each level.
            features: (B, S, d_model), the levels flattened and concatenated.
            spatial_shapes, level_start_index: as in `multi_scale_deformable_attention`.

        Returns:
            (B, Lq, d_model).
        """
        b, lq, _ = query.shape
        value = self.value_proj(features).view(b, features.shape[1], self.n_heads, -1)
        offsets = self.sampling_offsets(query).view(
            b, lq, self.n_heads, self.n_levels, self.n_points, 2)
        weights = self.attention_weights(query).view(
            b, lq, self.n_heads, self.n_levels * self.n_points).softmax(-1)
        weights = weights.view(b, lq, self.n_heads, self.n_levels, self.n_points)
        # offsets are in pixels of their level: divide by (W_l, H_l)
        normaliser = query.new_tensor([(w, h) for h, w in spatial_shapes])
        locations = reference_points[:, :, None, :, None, :] \
            + offsets / normaliser[None, None, None, :, None, :]
        out = multi_scale_deformable_attention(value, spatial_shapes, level_start_index,
                                               locations, weights)
        return self.output_proj(out)
