"""MIC's random block masking of input images (its `BlockMaskGenerator`)."""
from typing import Optional

import torch

from ...ops import resize
from ...utils.errors import UserError


class BlockMaskGenerator:
    """Drop random square blocks of an image; config `mask_generator=dict(type='block', ...)`.

    Args:
        mask_ratio: fraction of blocks dropped in expectation (MIC: 0.7, so ~30% are kept).
        mask_block_size: block side in input pixels (MIC: 64).
    """

    def __init__(self, mask_ratio: float, mask_block_size: int):
        self.mask_ratio = mask_ratio
        self.mask_block_size = mask_block_size

    @torch.no_grad()
    def generate_mask(self, imgs: torch.Tensor) -> torch.Tensor:
        """A 0/1 keep-mask: (B, 1, round(H/bs), round(W/bs)) U(0,1) > mask_ratio, upsampled.

        The upsampling is nearest (mmseg `resize`'s default), so each block is constant.

        Args:
            imgs: (B, C, H, W).
        Returns:
            (B, 1, H, W) float mask, 1 = kept.
        """
        b, _, h, w = imgs.shape
        shape = (b, 1, round(h / self.mask_block_size), round(w / self.mask_block_size))
        mask = (torch.rand(shape, device=imgs.device) > self.mask_ratio).float()
        return resize(mask, size=(h, w))

    @torch.no_grad()
    def mask_image(self, imgs: torch.Tensor) -> torch.Tensor:
        """imgs * mask: dropped blocks become 0 in normalised space, i.e. the dataset mean colour.

        Args:
            imgs: (B, C, H, W) normalised images.
        Returns:
            (B, C, H, W), without autograd history.
        """
        return imgs * self.generate_mask(imgs)


def build_mask_generator(cfg: Optional[dict]) -> Optional[BlockMaskGenerator]:
    """Build a mask generator from `uda.mask_generator`; None gives None (as MIC)."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    kind = cfg.pop('type', None)
    if kind != 'block':
        raise UserError(f"uda.mask_generator.type={kind!r} is not supported: use type='block' "
                        '(with mask_ratio and mask_block_size).')
    from ...utils.errors import refuse_unknown_keys
    refuse_unknown_keys(cfg, ('mask_ratio', 'mask_block_size'), 'uda.mask_generator')
    try:
        return BlockMaskGenerator(**cfg)
    except TypeError as err:
        raise UserError(f'uda.mask_generator: {err}; the block generator takes exactly '
                        'mask_ratio and mask_block_size.') from None
