"""ImageNet feature distance of DAFormer/MIC: masked per-cell L2 distance.

As MIC's `DACS.calc_feat_dist` / `masked_feat_dist` and `downscale_label_ratio`.
"""
from typing import Optional, Sequence

import torch

from .label_downscale import downscale_label_ratio


def masked_feat_dist(f1: torch.Tensor, f2: torch.Tensor, mask: Optional[torch.Tensor] = None,
                     empty_is_zero: bool = False) -> torch.Tensor:
    """Mean over the masked cells of the per-cell L2 norm over channels of f1 - f2.

    MIC returns NaN when `mask` selects no cell (an empty mean, its gradients are zero); that is
    the default. `empty_is_zero=True` (opt-in fix) returns a zero that is still attached to the
    graph, so logs stay finite and backward still runs.

    Args:
        f1, f2: (B, C, h, w) features.
        mask: (B, 1, h, w) bool, or None for all cells.
    Returns:
        scalar tensor.
    """
    dist = torch.norm(f1 - f2, dim=1, p=2)
    if mask is not None:
        dist = dist[mask.squeeze(1)]
    if empty_is_zero and dist.numel() == 0:
        return dist.sum()
    return torch.mean(dist)


def feature_distance_mask(gt: torch.Tensor, feat_shape: Sequence[int],
                          classes: Optional[Sequence[int]], min_ratio: float, num_classes: int,
                          ignore_index: int = 255) -> torch.Tensor:
    """Feature cells whose downscaled label is one of `classes` (MIC: the thing classes).

    The label is downscaled by scale = gt_width // feat_width with the purity rule of
    `downscale_label_ratio` (a cell whose majority class covers < `min_ratio`, or is ignored,
    becomes `ignore_index`, which is never in `classes`). `classes=None` selects every cell.

    Args:
        gt: (B, 1, H, W) labels.
        feat_shape: shape of the feature map, (..., h, w).
    Returns:
        (B, 1, h, w) bool mask.
    """
    scale = gt.shape[-1] // feat_shape[-1]
    cell_label = downscale_label_ratio(gt, scale, min_ratio, num_classes, ignore_index)
    if classes is None:
        return torch.ones_like(cell_label, dtype=torch.bool)
    classes = torch.as_tensor(list(classes), device=gt.device)
    return torch.any(cell_label[..., None] == classes, -1)
