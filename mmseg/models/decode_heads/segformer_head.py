"""SegFormer's all-MLP decoder (as DAFormer ships it, with per-level `linear_c.{i}`)."""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from ...ops import resize
from ..builder import HEADS
from ..utils.token_mlp import MLP
from .decode_head import BaseDecodeHead, Features


@HEADS.register_module()
class SegFormerHead(BaseDecodeHead):
    """Per-level Linear to `embed_dim`, resize to stride 4, concat, 1x1 ConvModule, classifier.

    decoder_params: dict(embed_dim=768, conv_kernel_size=1). The classifier is `linear_pred`
    (embed_dim -> num_classes); the base class's `conv_seg` (channels -> num_classes) is built
    but unused, as in SegFormer/DAFormer (their configs set find_unused_parameters=True).
    `input_transform='multiple_select'` is forced.
    """

    def __init__(self, feature_strides=(4, 8, 16, 32), **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        assert len(feature_strides) == len(self.in_channels)
        self.feature_strides = feature_strides
        embed_dim = self.decoder_params['embed_dim']
        kernel_size = self.decoder_params['conv_kernel_size']
        self.linear_c = nn.ModuleDict({
            str(i): MLP(input_dim=in_ch, embed_dim=embed_dim)
            for i, in_ch in zip(self.in_index, self.in_channels)
        })
        self.linear_fuse = ConvModule(embed_dim * len(self.in_index), embed_dim, kernel_size,
                                      padding=kernel_size // 2, norm_cfg=self.norm_cfg)
        self.linear_pred = nn.Conv2d(embed_dim, self.num_classes, kernel_size=1)

    def forward_features(self, inputs: Features) -> torch.Tensor:
        """4 backbone maps -> (B, embed_dim, H/4, W/4) fused features (concat order 0..3)."""
        x = self._transform_inputs(inputs)
        size = x[0].shape[2:]
        embeds = []
        for i, level in zip(self.in_index, x):
            e = self.linear_c[str(i)](level).transpose(1, 2)
            e = e.reshape(level.shape[0], -1, *level.shape[2:])
            if e.shape[2:] != size:
                e = resize(e, size=size, mode='bilinear', align_corners=self.align_corners)
            embeds.append(e)
        return self.linear_fuse(torch.cat(embeds, dim=1))

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, embed_dim, h, w) -> logits through dropout and `linear_pred`."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.linear_pred(feat)
