"""Simple feature pyramid: four stride-p ViT maps -> maps at strides p/4, p/2, p and 2p.

After ViTDet (Li et al., ECCV 2022, "simple feature pyramid") and BEiT's semantic segmentation
neck (transposed convolutions up, max-pooling down, from a plain ViT's intermediate blocks).
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmcv.runner import BaseModule

from ..builder import NECKS


@NECKS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Turn the outputs of four ViT blocks (all at the patch stride p) into a 4-level pyramid.

    Level 0: 2x transposed conv, norm, GELU, 2x transposed conv (stride p/4); level 1: 2x
    transposed conv (p/2); level 2: identity (p); level 3: 2x2 max-pool (2p). With
    `out_channels` set, each level then gets a 1x1 projection + norm (ViTDet's lateral conv);
    otherwise every level keeps `embed_dim` channels (BEiT).

    Args:
        embed_dim: channels of the ViT maps; injected by the backbone (`TimmViT`).
        patch_size: the ViT's patch size p, the stride of its maps; injected by the backbone.
        out_channels: channels of every level (int), of each level (4 ints), or None for
            `embed_dim` without projection.
        norm_cfg: mmcv norm config of the up-sampling and projection norms (BN as in BEiT; the
            decode heads of this codebase use BN too).
        init_cfg: mmcv init config.
    """

    def __init__(self, embed_dim: int, patch_size: int,
                 out_channels: Optional[Union[int, Sequence[int]]] = None,
                 norm_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        norm_cfg = norm_cfg or dict(type='BN', requires_grad=True)
        self.patch_size = patch_size
        # Strides of the four outputs relative to the (resized) input image.
        self.strides = [patch_size / 4, patch_size / 2, patch_size, patch_size * 2]
        self.levels = nn.ModuleList([
            nn.Sequential(
                nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2),
                build_norm_layer(norm_cfg, embed_dim)[1],
                nn.GELU(),
                nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2)),
            nn.ConvTranspose2d(embed_dim, embed_dim, kernel_size=2, stride=2),
            nn.Identity(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        ])
        if out_channels is None:
            self.out_channels = [embed_dim] * 4
            self.projections = None
        else:
            self.out_channels = [out_channels] * 4 if isinstance(out_channels, int) \
                else list(out_channels)
            assert len(self.out_channels) == 4, 'out_channels: an int or 4 ints'
            self.projections = nn.ModuleList(
                nn.Sequential(nn.Conv2d(embed_dim, c, kernel_size=1, bias=False),
                              build_norm_layer(norm_cfg, c)[1])
                for c in self.out_channels)

    def forward(self, feats: List[torch.Tensor]) -> List[torch.Tensor]:
        """4 x (B, embed_dim, h, w) -> (B, C_i, h * 4, w * 4), (.., h * 2, w * 2), (.., h, w),
        (.., h // 2, w // 2)."""
        assert len(feats) == 4, f'SimpleFeaturePyramid needs 4 maps, got {len(feats)}'
        outs = [level(x) for level, x in zip(self.levels, feats)]
        if self.projections is not None:
            outs = [proj(x) for proj, x in zip(self.projections, outs)]
        return outs
