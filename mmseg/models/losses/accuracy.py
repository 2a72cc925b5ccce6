"""Top-k pixel accuracy in percent, as logged by MIC (`acc_seg`)."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn


def accuracy(pred: torch.Tensor, target: torch.Tensor,
             topk: Union[int, Sequence[int]] = 1,
             thresh: Optional[float] = None) -> Union[torch.Tensor, list]:
    """Percentage of pixels whose label is among the top-k predictions.

    The denominator is every pixel of `target`: ignored pixels (255) never match a class and so
    count as wrong, as in MMSeg 0.16's `accuracy` (mmseg/models/losses/accuracy.py), which MIC
    uses.

    Args:
        pred: (B, C, ...) scores.
        target: (B, ...) class ids.
        topk: an int (returns one (1,) tensor) or a sequence (returns a list).
        thresh: a prediction also needs a score above `thresh` to count.
    """
    single = isinstance(topk, int)
    topks = (topk, ) if single else tuple(topk)
    if pred.size(0) == 0:
        res = [pred.new_tensor(0.) for _ in topks]
        return res[0] if single else res
    pred_value, pred_label = pred.topk(max(topks), dim=1)
    pred_value, pred_label = pred_value.transpose(0, 1), pred_label.transpose(0, 1)
    correct = pred_label.eq(target.unsqueeze(0).expand_as(pred_label))
    if thresh is not None:
        correct = correct & (pred_value > thresh)
    res = [correct[:k].reshape(-1).float().sum(0, keepdim=True) * (100.0 / target.numel())
           for k in topks]
    return res[0] if single else res


class Accuracy(nn.Module):
    """Module form of `accuracy` (config keys `topk`, `thresh`)."""

    def __init__(self, topk: Union[int, Sequence[int]] = (1, ), thresh: Optional[float] = None):
        super().__init__()
        self.topk = topk
        self.thresh = thresh

    def forward(self, pred: torch.Tensor, target: torch.Tensor):
        return accuracy(pred, target, self.topk, self.thresh)
