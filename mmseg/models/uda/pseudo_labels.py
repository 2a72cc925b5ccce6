"""Teacher pseudo-labels and DACS's scalar confidence weight (MIC's `DACS.forward_train`)."""
from typing import Dict, Optional, Tuple

import torch

from ...utils.errors import UserError


def pseudo_label_from_logits(logits: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Softmax over classes, then the per-pixel max.

    Args:
        logits: (B, C, H, W) teacher logits (detached here).
    Returns:
        prob_max (B, H, W) float and label (B, H, W) long.
    """
    prob_max, label = torch.max(torch.softmax(logits.detach(), dim=1), dim=1)
    return prob_max, label


def confidence_quality(prob_max: torch.Tensor, threshold: float) -> torch.Tensor:
    """Fraction of ALL pixels of the batch with prob_max >= threshold, as a 0-dim float tensor.

    MIC's pseudo weight is this one batch-level scalar, computed before any margin masking. The
    division is done in float64 and rounded once to float32, as MIC's Python division is.
    """
    count = (prob_max >= threshold).sum()
    return (count.double() / prob_max.numel()).float()


def pseudo_weight_map(prob_max: torch.Tensor, threshold: Optional[float]) -> torch.Tensor:
    """The (B, H, W) pseudo weight: `confidence_quality` everywhere; ones if threshold is None."""
    if threshold is None:
        return torch.ones_like(prob_max, dtype=torch.float32)
    return confidence_quality(prob_max, threshold) * torch.ones_like(prob_max, dtype=torch.float32)


def filter_valid_pseudo_region(weight: torch.Tensor, valid_pseudo_mask: Optional[torch.Tensor],
                               ignore_top: int = 0, ignore_bottom: int = 0) -> torch.Tensor:
    """Zero the pseudo weight where the target image is unreliable.

    Rows [0, ignore_top) and the last `ignore_bottom` rows are zeroed (DAFormer's Cityscapes
    rectification margins); a loader-provided `valid_pseudo_mask` (MIC's `crop_pseudo_margins`)
    multiplies the weight. The two methods are exclusive, as MIC asserts.

    Args:
        weight: (B, H, W) float.
        valid_pseudo_mask: (B, 1, H, W) 0/1 mask or None.
    Returns:
        (B, H, W) float, a new tensor.
    """
    if (ignore_top > 0 or ignore_bottom > 0) and valid_pseudo_mask is not None:
        raise UserError('uda.pseudo_weight_ignore_top/bottom and the target dataset\'s '
                        'crop_pseudo_margins (valid_pseudo_mask) are both active: set the '
                        'ignore margins to 0 or remove crop_pseudo_margins.')
    weight = weight.clone()
    if ignore_top > 0:
        weight[:, :ignore_top, :] = 0
    if ignore_bottom > 0:
        weight[:, -ignore_bottom:, :] = 0
    if valid_pseudo_mask is not None:
        weight = weight * valid_pseudo_mask.squeeze(1)
    return weight


def teacher_diagnostics(prob_max: torch.Tensor, label: torch.Tensor, gt: torch.Tensor,
                        threshold: Optional[float], ignore_index: int = 255
                        ) -> Dict[str, torch.Tensor]:
    """How confident and how right the teacher is, for the log (`pl.*`; never `.item()`-ed).

    Only for runs with target labels (`data.train.debug_gt`, the synthetic benchmark): they say
    which regime self-training is in (how much of the target loss's weight `q` gives, and how
    many pseudo-labels are right), which decides what a pseudo-label filter can gain.

    Args:
        prob_max, label: (B, H, W) the teacher's max probability and argmax.
        gt: (B, H, W) or (B, 1, H, W) target labels (`ignore_index` = unlabelled).
        threshold: MIC's pseudo threshold (None: no confidence weighting, `pl.q` = 1).
    Returns:
        `pl.acc`: pixel accuracy on labelled pixels; `pl.q`: MIC's confidence quality;
        `pl.acc_confident`: accuracy on the labelled pixels at or above the threshold;
        `pl.conf_p25` / `pl.conf_p50`: quartile and median of prob_max (where a calibrated
        threshold would put q at 0.75 / 0.5). An empty denominator gives 0.
    """
    gt = gt.reshape(label.shape)
    labelled = (gt != ignore_index).float()
    correct = (label == gt).float() * labelled
    confident = (prob_max >= threshold).float() if threshold is not None \
        else torch.ones_like(prob_max)
    quartiles = torch.quantile(prob_max.detach().float().flatten(),
                               torch.tensor([0.25, 0.5], device=prob_max.device))
    return {'pl.acc': correct.sum() / labelled.sum().clamp_min(1),
            'pl.q': confident.mean(),
            'pl.acc_confident': (correct * confident).sum()
            / (labelled * confident).sum().clamp_min(1),
            'pl.conf_p25': quartiles[0], 'pl.conf_p50': quartiles[1]}
