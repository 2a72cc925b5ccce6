"""HRDA's detail-crop boxes: drawing, scaling and applying a (y1, y2, x1, x2) box."""
from typing import Sequence, Tuple

import numpy as np
import torch

Box = Tuple[int, int, int, int]


def get_crop_bbox(img_h: int, img_w: int, crop_size: Sequence[int], divisible: int = 1) -> Box:
    """Random (y1, y2, x1, x2) box of `crop_size` inside an img_h x img_w image.

    Offsets are randint(0, (margin + 1) // divisible) * divisible, so with margin 512 and
    divisible 8 the largest offset is 504, never 512 (a quirk of MIC's `get_crop_bbox` in
    seg/mmseg/models/segmentors/hrda_encoder_decoder.py).
    Drawn with numpy's global RNG, as MIC does, so seeding reproduces its boxes.
    """
    crop_h, crop_w = crop_size
    assert crop_h > 0 and crop_w > 0
    if img_h == crop_h and img_w == crop_w:
        return 0, img_h, 0, img_w
    margin_h = max(img_h - crop_h, 0)
    margin_w = max(img_w - crop_w, 0)
    offset_h = np.random.randint(0, (margin_h + 1) // divisible) * divisible
    offset_w = np.random.randint(0, (margin_w + 1) // divisible) * divisible
    return offset_h, offset_h + crop_h, offset_w, offset_w + crop_w


def scale_box(box: Box, divisor: float) -> Box:
    """Box divided by `divisor` (e.g. the output stride), truncated to ints."""
    return tuple(int(v / divisor) for v in box)


def crop(x: torch.Tensor, box: Box) -> torch.Tensor:
    """Crop the last two dims of a (..., H, W) tensor to `box`."""
    y1, y2, x1, x2 = box
    return x[..., y1:y2, x1:x2]
