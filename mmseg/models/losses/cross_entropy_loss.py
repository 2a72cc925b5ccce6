"""Softmax cross-entropy with MIC's reduction: the mean runs over all pixels, ignored included."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..builder import LOSSES
from .utils import weight_reduce_loss


def cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: Optional[torch.Tensor] = None,
                  class_weight: Optional[torch.Tensor] = None, reduction: str = 'mean',
                  avg_factor: Optional[float] = None, ignore_index: int = 255,
                  avg_non_ignore: bool = False) -> torch.Tensor:
    """Per-pixel cross-entropy, weighted and reduced.

    Args:
        pred: (B, C, H, W) logits.
        label: (B, H, W) class ids; `ignore_index` pixels contribute a loss of 0.
        weight: (B, H, W) per-pixel weight (e.g. the pseudo-label confidence weight).
        class_weight: (C,) rescaling weight per class (passed to F.cross_entropy).
        avg_non_ignore: opt-in fix: average over non-ignored pixels instead of all B*H*W pixels
            (MIC averages over all pixels: MMSeg 0.16's `weight_reduce_loss` in
            mmseg/models/losses/utils.py).
    Returns:
        The reduced loss (a scalar unless reduction='none').
    """
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none',
                           ignore_index=ignore_index)
    if avg_non_ignore and avg_factor is None and reduction == 'mean':
        avg_factor = (label != ignore_index).sum().clamp(min=1).item()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss module (config keys as MMSeg 0.16).

    Args:
        use_sigmoid: only False (softmax over classes) is supported, as MIC's configs use.
        use_mask: only False is supported.
        reduction: 'none' | 'mean' | 'sum'.
        class_weight: optional list of per-class weights.
        loss_weight: factor applied to the loss.
        avg_non_ignore: average over non-ignored pixels only (off = MIC's behaviour).
    """

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False,
                 reduction: str = 'mean', class_weight: Optional[Sequence[float]] = None,
                 loss_weight: float = 1.0, avg_non_ignore: bool = False):
        super().__init__()
        if use_sigmoid or use_mask:
            raise ValueError('CrossEntropyLoss supports only use_sigmoid=False, use_mask=False')
        self.use_sigmoid = use_sigmoid
        self.use_mask = use_mask
        self.reduction = reduction
        self.class_weight = class_weight
        self.loss_weight = loss_weight
        self.avg_non_ignore = avg_non_ignore

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor,
                weight: Optional[torch.Tensor] = None, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                ignore_index: int = 255) -> torch.Tensor:
        """(B, C, H, W) logits and (B, H, W) labels -> loss (see `cross_entropy`)."""
        reduction = reduction_override or self.reduction
        class_weight = None
        if self.class_weight is not None:
            class_weight = cls_score.new_tensor(self.class_weight)
        return self.loss_weight * cross_entropy(
            cls_score, label, weight, class_weight=class_weight, reduction=reduction,
            avg_factor=avg_factor, ignore_index=ignore_index,
            avg_non_ignore=self.avg_non_ignore)
