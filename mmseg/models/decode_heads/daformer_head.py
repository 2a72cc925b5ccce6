"""DAFormer's decoder: per-level embeddings, resized to stride 4, concatenated and fused."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule

from ...ops import resize
from ..builder import HEADS
from ..utils.aspp import ASPPWrapper
from ..utils.token_mlp import MLP
from .decode_head import BaseDecodeHead, Features


def build_layer(in_channels: int, out_channels: int, type: str, **kwargs) -> nn.Module:
    """Embedding or fusion layer of `decoder_params` (`embed_cfg`, `fusion_cfg`).

    Types: 'mlp' (per-pixel Linear; norm/act keys ignored), 'conv' (ConvModule, padding
    kernel_size // 2), 'sep_conv' (DepthwiseSeparableConvModule) and 'aspp' (ASPPWrapper with
    keys sep, dilations, pool, norm_cfg, act_cfg, align_corners).
    """
    if type == 'mlp':
        return MLP(input_dim=in_channels, embed_dim=out_channels)
    if type == 'conv':
        return ConvModule(in_channels, out_channels, padding=kwargs['kernel_size'] // 2, **kwargs)
    if type == 'sep_conv':
        return DepthwiseSeparableConvModule(in_channels, out_channels,
                                            padding=kwargs['kernel_size'] // 2, **kwargs)
    if type == 'aspp':
        return ASPPWrapper(in_channels=in_channels, channels=out_channels, **kwargs)
    raise NotImplementedError(f'DAFormerHead layer type {type!r} is not supported '
                              "(use 'mlp', 'conv', 'sep_conv' or 'aspp')")


@HEADS.register_module()
class DAFormerHead(BaseDecodeHead):
    """DAFormer decoder (`input_transform='multiple_select'` is forced).

    decoder_params:
        embed_dims: int or per-level list (256 in DAFormer).
        embed_cfg: layer for every level but the last, e.g. dict(type='mlp', act_cfg=None,
            norm_cfg=None).
        embed_neck_cfg: layer for the last level, or 'same_as_embed_cfg'.
        fusion_cfg: layer fusing the concatenated embeddings to `channels`: dict(type='conv',
            kernel_size=1, ...) ("conv1") or dict(type='aspp', sep=True, dilations=(1, 6, 12,
            18), pool=False, ...) ("sepaspp", MIC's choice).
    """

    def __init__(self, **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        assert not self.align_corners, 'DAFormerHead requires align_corners=False'
        params = self.decoder_params
        embed_dims = params['embed_dims']
        if isinstance(embed_dims, int):
            embed_dims = [embed_dims] * len(self.in_index)
        embed_cfg = dict(params['embed_cfg'])
        embed_neck_cfg = params['embed_neck_cfg']
        embed_neck_cfg = embed_cfg if embed_neck_cfg == 'same_as_embed_cfg' \
            else dict(embed_neck_cfg)
        fusion_cfg = dict(params['fusion_cfg'])
        for cfg in (embed_cfg, embed_neck_cfg, fusion_cfg):
            if cfg['type'] == 'aspp':
                cfg['align_corners'] = self.align_corners

        self.embed_layers = nn.ModuleDict({
            str(i): build_layer(in_ch, dim, **(embed_neck_cfg if i == self.in_index[-1]
                                               else embed_cfg))
            for i, in_ch, dim in zip(self.in_index, self.in_channels, embed_dims)
        })
        self.fuse_layer = build_layer(sum(embed_dims), self.channels, **fusion_cfg)

    def forward_features(self, inputs: Features) -> torch.Tensor:
        """4 backbone maps -> (B, channels, H/4, W/4) fused features at the first map's size."""
        x = self._transform_inputs(inputs)
        size = x[0].shape[2:]
        embeds = []
        for i, level in zip(self.in_index, x):
            e = self.embed_layers[str(i)](level)
            if e.dim() == 3:  # tokens from an 'mlp' embedding back to a map
                # Contiguous NCHW as MIC: the bare transposed view is channels_last-strided,
                # and the fusion convolutions would then run (slower on CPU) in that format.
                e = e.transpose(1, 2).contiguous().reshape(level.shape[0], -1,
                                                           *level.shape[2:])
            if e.shape[2:] != size:
                e = resize(e, size=size, mode='bilinear', align_corners=self.align_corners)
            embeds.append(e)
        return self.fuse_layer(torch.cat(embeds, dim=1))


def attention_head_cfg(head_cfg: dict, embed_dim: int, num_classes: Optional[int]) -> dict:
    """HRDA's scale-attention head cfg derived from the main DAFormerHead cfg.

    Same decoder with `embed_dim` channels; an 'aspp' fusion becomes a 1x1 'conv' fusion
    (as HRDA's `HRDAHead.__init__` in MIC's seg/mmseg/models/decode_heads/hrda_head.py);
    `num_classes` 1 for a class-agnostic attention.
    """
    cfg = dict(head_cfg, channels=embed_dim)
    params = dict(cfg['decoder_params'], embed_dims=embed_dim)
    if params['fusion_cfg']['type'] == 'aspp':
        params['fusion_cfg'] = dict(type='conv', kernel_size=1, act_cfg=dict(type='ReLU'),
                                    norm_cfg=params['fusion_cfg']['norm_cfg'])
    cfg['decoder_params'] = params
    if num_classes is not None:
        cfg['num_classes'] = num_classes
    return cfg
