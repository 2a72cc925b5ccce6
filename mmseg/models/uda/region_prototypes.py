"""Region anchors of PCPR's option `fpc.granularity='region'` (docs/method/pcpr.md, "Options").

Besides pixel anchors, every 8-connected component of one class in a pass's (downscaled)
label map gives one region anchor: the L2-normalised mean of its pixels' embeddings. Region
anchors are contrasted against the class sub-prototypes like pixel anchors; they do not move
the prototype memory (its update stays with the pixel anchors). The components are found with
max-pooling label propagation on the device, so there is no host copy of the label map.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def connected_components(label: Tensor, ignore_index: int = 255,
                         check_every: int = 8) -> Tensor:
    """Component ids of the 8-connected same-class regions of a label map.

    Each pixel starts with its own id; a 3x3 max pool run per class (pixels of other classes
    hold 0, so ids never cross a class boundary) spreads the largest id over each component
    until nothing changes (checked every `check_every` rounds: one host sync per check).

    Args:
        label: (H, W) long class map.
    Returns:
        (H, W) long: 0 on `ignore_index`, else the component's id (the largest flat index + 1
        of its pixels), equal for two pixels exactly when they are 8-connected through pixels
        of their class.
    """
    h, w = label.shape
    classes = label[label != ignore_index].unique()
    if classes.numel() == 0:
        return torch.zeros_like(label)
    member = label[None] == classes[:, None, None]  # (K, H, W)
    start = torch.arange(1, h * w + 1, device=label.device).view(1, h, w).expand_as(member)
    ids = torch.where(member, start, 0).float()  # float for max_pool2d; exact up to 2**24
    while True:
        before = ids
        for _ in range(check_every):
            ids = torch.where(member, F.max_pool2d(ids[None], 3, 1, 1)[0], 0.)
        if torch.equal(ids, before):
            break
    return ids.sum(0).long()


def region_anchors(emb: Tensor, label: Tensor, min_area: int, max_regions: int,
                   ignore_index: int = 255) -> Tuple[Tensor, Tensor]:
    """One unit embedding and class per component of `label` with at least `min_area` cells.

    Args:
        emb: (h, w, D) unit pixel embeddings of one image.
        label: (h, w) long labels at the embedding resolution.
        max_regions: the largest components are kept.
    Returns:
        (R, D) region anchors (gradients flow to `emb`) and (R,) long classes.
    """
    components = connected_components(label, ignore_index).flatten()
    valid = components > 0
    ids, inverse, area = components[valid].unique(return_inverse=True, return_counts=True)
    flat = emb.reshape(-1, emb.shape[-1])[valid]
    sums = flat.new_zeros(len(ids), flat.shape[1]).index_add_(0, inverse, flat)
    classes = label.flatten()[valid].new_zeros(len(ids)).scatter_(
        0, inverse, label.flatten()[valid])
    keep = (area >= min_area).nonzero().squeeze(1)
    keep = keep[area[keep].argsort(descending=True)[:max_regions]]
    return F.normalize(sums[keep], dim=1), classes[keep]
