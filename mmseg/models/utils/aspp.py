"""Atrous spatial pyramid pooling as DAFormer's fusion layer (`fusion_cfg.type='aspp'`)."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule

from ...ops import resize


class ASPPModule(nn.ModuleList):
    """Parallel branches, one per dilation: a 1x1 conv for dilation 1, else a 3x3 atrous conv.

    With `sep=True` the 3x3 branches are depthwise-separable (DeepLabV3+ style); the 1x1 branch
    stays a plain ConvModule. (B, C_in, H, W) -> list of (B, channels, H, W).
    """

    def __init__(self, dilations: Sequence[int], in_channels: int, channels: int, sep: bool,
                 norm_cfg: Optional[dict], act_cfg: Optional[dict],
                 conv_cfg: Optional[dict] = None):
        super().__init__()
        for dilation in dilations:
            atrous = dilation > 1
            conv_type = DepthwiseSeparableConvModule if (sep and atrous) else ConvModule
            self.append(conv_type(in_channels, channels, 3 if atrous else 1, dilation=dilation,
                                  padding=dilation if atrous else 0, norm_cfg=norm_cfg,
                                  act_cfg=act_cfg, conv_cfg=conv_cfg))

    def forward(self, x: torch.Tensor) -> list:
        return [branch(x) for branch in self]


class ASPPWrapper(nn.Module):
    """Optional image pooling + ASPP branches, concatenated and fused by a 3x3 bottleneck.

    Key names (`image_pool.1`, `aspp_modules.{i}`, `bottleneck`) follow DAFormer's checkpoints.
    (B, in_channels, H, W) -> (B, channels, H, W).
    """

    def __init__(self, in_channels: int, channels: int, sep: bool, dilations: Sequence[int],
                 pool: bool, norm_cfg: Optional[dict], act_cfg: Optional[dict],
                 align_corners: bool = False, conv_cfg: Optional[dict] = None):
        super().__init__()
        assert isinstance(dilations, (list, tuple))
        self.align_corners = align_corners
        self.image_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            ConvModule(in_channels, channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act_cfg)) if pool else None
        self.aspp_modules = ASPPModule(dilations, in_channels, channels, sep, norm_cfg, act_cfg,
                                       conv_cfg)
        self.bottleneck = ConvModule((len(dilations) + int(pool)) * channels, channels, 3,
                                     padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        if self.image_pool is not None:
            outs.append(resize(self.image_pool(x), size=x.shape[2:], mode='bilinear',
                               align_corners=self.align_corners))
        outs.extend(self.aspp_modules(x))
        return self.bottleneck(torch.cat(outs, dim=1))
