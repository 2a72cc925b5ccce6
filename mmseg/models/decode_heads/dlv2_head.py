"""DeepLabV2's classifier: parallel atrous 3x3 convs straight to class logits, summed."""
from typing import Sequence

import torch

from ..builder import HEADS
from ..utils.aspp import ASPPModule
from .decode_head import BaseDecodeHead, Features


@HEADS.register_module()
class DLV2Head(BaseDecodeHead):
    """ASPP-sum head of DeepLabV2 (MIC's `DLV2Head`).

    Each dilation has its own 3x3 conv (with bias, no norm, no activation) from the selected
    backbone map to `num_classes`; the logits are the sum of the branches. There is no
    decoder feature map and no `conv_seg`/dropout: `forward_features` already returns the
    logits and `cls_seg` is the identity, so the head also serves as HRDA's single-scale head.

    Args:
        dilations: atrous rates, (6, 12, 18, 24) in DeepLabV2; MIC's 'dlv2red' uses (6, 12) as
            earlier UDA works effectively did.
        **kwargs: BaseDecodeHead arguments (in_channels, in_index, num_classes, init_cfg, ...);
            `channels`, `dropout_ratio` and `norm_cfg` are fixed (1, 0, None) and may not be
            given.
    """

    def __init__(self, dilations: Sequence[int] = (6, 12, 18, 24), **kwargs):
        for fixed in ('channels', 'dropout_ratio', 'norm_cfg'):
            if fixed in kwargs:
                raise TypeError(f'DLV2Head does not take {fixed!r} (it has no decoder layers)')
        super().__init__(channels=1, dropout_ratio=0, norm_cfg=None, **kwargs)
        del self.conv_seg
        assert isinstance(dilations, (list, tuple))
        self.dilations = dilations
        self.aspp_modules = ASPPModule(dilations, self.in_channels, self.num_classes, sep=False,
                                       norm_cfg=None, act_cfg=None, conv_cfg=self.conv_cfg)

    def forward_features(self, inputs: Features) -> torch.Tensor:
        """Backbone maps -> (B, num_classes, h, w) logits of the `in_index` map."""
        branches = self.aspp_modules(self._transform_inputs(inputs))
        # Left-to-right sum, in MIC's order (bit-equal logits).
        return sum(branches[1:], branches[0])

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Identity: `forward_features` already gives the logits."""
        return feat
