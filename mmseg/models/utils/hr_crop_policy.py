"""Where HRDA's detail crop goes in training: HRDA's uniform draw, or a box chosen from a map.

PCPR's option `hr_crop_policy` (docs/method/pcpr.md, "Options"): 'random' is HRDA's crop;
'entropy' puts the crop where the teacher is least certain about the target content of the
batch; 'things' centres it on a pixel of a small thing class. The UDA step computes the map of
a pass (`crop_score_map`) and hands it to the segmentor, whose `sample_hr_crop_box` turns it
into a box here. Boxes keep HRDA's rule: offsets are multiples of `divisible` and never exceed
the largest offset HRDA's uniform draw can produce.
"""
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .crop_box import Box

HR_CROP_POLICIES = ('random', 'entropy', 'things')
# Traffic light, traffic sign, person, rider, motorcycle, bicycle (Cityscapes train ids).
SMALL_THING_CLASSES = (6, 7, 11, 12, 17, 18)


def _offsets(size: int, crop: int, divisible: int, device=None) -> torch.Tensor:
    """HRDA's admissible offsets: 0, d, 2d, ... below (size - crop + 1) // d * d."""
    return torch.arange((max(size - crop, 0) + 1) // divisible, device=device) * divisible


def max_score_box(score: torch.Tensor, crop_size: Sequence[int], divisible: int = 1) -> Box:
    """The admissible box whose summed `score` is largest (the first one on ties).

    Args:
        score: (H, W) non-negative map at the resolution of the HR image.
    """
    crop_h, crop_w = crop_size
    integral = F.pad(score.double().cumsum(0).cumsum(1), (1, 0, 1, 0))
    ys = _offsets(score.shape[0], crop_h, divisible, score.device)
    xs = _offsets(score.shape[1], crop_w, divisible, score.device)
    y1, x1 = ys[:, None], xs[None, :]
    sums = (integral[y1 + crop_h, x1 + crop_w] - integral[y1, x1 + crop_w]
            - integral[y1 + crop_h, x1] + integral[y1, x1])
    best = int(sums.flatten().argmax())
    y, x = int(ys[best // len(xs)]), int(xs[best % len(xs)])
    return y, y + crop_h, x, x + crop_w


def centred_box(y: int, x: int, img_h: int, img_w: int, crop_size: Sequence[int],
                divisible: int = 1) -> Box:
    """The admissible box whose centre is nearest to pixel (y, x)."""
    crop_h, crop_w = crop_size

    def offset(centre: int, size: int, crop: int) -> int:
        candidates = _offsets(size, crop, divisible)
        return int(candidates[(candidates + crop // 2 - centre).abs().argmin()])

    oy, ox = offset(y, img_h, crop_h), offset(x, img_w, crop_w)
    return oy, oy + crop_h, ox, ox + crop_w


def entropy_map(logits: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-pixel prediction entropy averaged over the batch.

    Args:
        logits: (B, C, H, W) teacher logits.
        weight: (B, H, W) in [0, 1], e.g. 0 on pasted source pixels; None = all 1.
    Returns:
        (H, W) mean of -sum_c p_c log p_c (times `weight`).
    """
    log_p = F.log_softmax(logits.float(), dim=1)
    entropy = -(log_p.exp() * log_p).sum(1)
    if weight is not None:
        entropy = entropy * weight
    return entropy.mean(0)


def thing_map(label: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """(H, W) fraction of the batch's images whose label is one of `classes` at each pixel.

    Args:
        label: (B, H, W) or (B, 1, H, W) train ids.
    """
    label = label.reshape(label.shape[0], *label.shape[-2:])
    classes = torch.as_tensor(list(classes), device=label.device)
    return torch.isin(label, classes).float().mean(0)


def box_from_score(policy: str, score: torch.Tensor, crop_size: Sequence[int],
                   divisible: int) -> Optional[Box]:
    """The detail crop for `policy` from its map; None (HRDA's uniform draw) when the map is 0.

    'things' draws one of the marked pixels with numpy's global generator (as HRDA draws its
    boxes) and centres the crop on it; 'entropy' takes the box of largest summed entropy.
    """
    if not bool((score > 0).any()):
        return None
    if policy == 'entropy':
        return max_score_box(score, crop_size, divisible)
    if policy == 'things':
        ys, xs = torch.nonzero(score > 0, as_tuple=True)
        pick = np.random.randint(len(ys))
        return centred_box(int(ys[pick]), int(xs[pick]), *score.shape, crop_size, divisible)
    raise ValueError(f'no crop map for hr_crop_policy={policy!r}')
