"""Loss reductions shared by the segmentation losses (MMSegmentation 0.16 semantics)."""
from typing import Optional

import torch


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss with 'none', 'mean' or 'sum'."""
    if reduction == 'none':
        return loss
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    raise ValueError(f'reduction must be none, mean or sum, got {reduction!r}')


def weight_reduce_loss(loss: torch.Tensor, weight: Optional[torch.Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: Optional[float] = None) -> torch.Tensor:
    """Multiply an element-wise loss by `weight`, then reduce it.

    Without `avg_factor`, 'mean' divides by the number of elements, so pixels whose loss is 0
    (ignored ones) still count in the denominator: this is MMSeg 0.16's (and MIC's) reduction.
    With `avg_factor`, 'mean' is `sum / avg_factor`.
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'mean':
        return loss.sum() / avg_factor
    if reduction == 'none':
        return loss
    raise ValueError('avg_factor can only be used with reduction="mean" or "none"')
