"""Base class of all decode heads (MMSegmentation 0.16 semantics, MIC's `seg_weight` extension)."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.runner import BaseModule

from ...ops import resize
from ..builder import build_loss
from ..losses import accuracy

Features = List[torch.Tensor]


class BaseDecodeHead(BaseModule, metaclass=ABCMeta):
    """A head maps backbone features to class logits; subclasses implement `forward_features`.

    `forward(inputs) = cls_seg(forward_features(inputs))`, with `cls_seg` = Dropout2d then a 1x1
    `conv_seg`.

    Args:
        in_channels: channels of the selected input(s) (int or list).
        channels: channels of the decoder feature map fed to `conv_seg`.
        num_classes: number of classes.
        dropout_ratio: Dropout2d rate before `conv_seg` (0 disables it).
        conv_cfg, norm_cfg, act_cfg: configs of the ConvModules built by subclasses.
        in_index: index (or indices) of the backbone maps to use.
        input_transform: None (one map), 'resize_concat' or 'multiple_select'.
        loss_decode: config of the loss module.
        decoder_params: subclass-specific decoder parameters.
        ignore_index: label value excluded from the loss.
        align_corners: of the bilinear resizes (MIC: False).
        init_cfg: default Normal(std=0.01, bias=0) on `conv_seg`.
    """

    def __init__(self, in_channels: Union[int, Sequence[int]], channels: int, *,
                 num_classes: int, dropout_ratio: float = 0.1, conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None, act_cfg: Optional[dict] = dict(type='ReLU'),
                 in_index: Union[int, Sequence[int]] = -1, input_transform: Optional[str] = None,
                 loss_decode: dict = dict(type='CrossEntropyLoss', use_sigmoid=False,
                                          loss_weight=1.0),
                 decoder_params: Optional[dict] = None, ignore_index: int = 255,
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = dict(type='Normal', std=0.01,
                                                 override=dict(name='conv_seg'))):
        super().__init__(init_cfg)
        self._init_inputs(in_channels, in_index, input_transform)
        self.channels = channels
        self.num_classes = num_classes
        self.dropout_ratio = dropout_ratio
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.in_index = in_index
        self.decoder_params = decoder_params
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.loss_decode = build_loss(loss_decode)
        self.conv_seg = nn.Conv2d(channels, num_classes, kernel_size=1)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None

    def extra_repr(self) -> str:
        return (f'input_transform={self.input_transform}, ignore_index={self.ignore_index}, '
                f'align_corners={self.align_corners}')

    def _init_inputs(self, in_channels, in_index, input_transform) -> None:
        """Check and store how the backbone maps are selected (MMSeg's rules)."""
        if input_transform is not None:
            assert input_transform in ['resize_concat', 'multiple_select']
        self.input_transform = input_transform
        self.in_index = in_index
        if input_transform is not None:
            assert isinstance(in_channels, (list, tuple))
            assert isinstance(in_index, (list, tuple))
            assert len(in_channels) == len(in_index)
            self.in_channels = sum(in_channels) if input_transform == 'resize_concat' \
                else in_channels
        else:
            assert isinstance(in_channels, int) and isinstance(in_index, int)
            self.in_channels = in_channels

    def _transform_inputs(self, inputs: Features):
        """Select (and for 'resize_concat', resize to the first and concatenate) the inputs."""
        if self.input_transform == 'resize_concat':
            inputs = [inputs[i] for i in self.in_index]
            inputs = [resize(x, size=inputs[0].shape[2:], mode='bilinear',
                             align_corners=self.align_corners) for x in inputs]
            return torch.cat(inputs, dim=1)
        if self.input_transform == 'multiple_select':
            return [inputs[i] for i in self.in_index]
        return inputs[self.in_index]

    @abstractmethod
    def forward_features(self, inputs: Features) -> torch.Tensor:
        """Backbone maps -> (B, channels, h, w) decoder features, before dropout and conv_seg."""

    def forward(self, inputs: Features) -> torch.Tensor:
        """Backbone maps -> (B, num_classes, h, w) logits."""
        return self.cls_seg(self.forward_features(inputs))

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, channels, h, w) -> (B, num_classes, h, w): Dropout2d, then the 1x1 classifier."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.conv_seg(feat)

    def forward_train(self, inputs: Features, img_metas: List[dict],
                      gt_semantic_seg: torch.Tensor, train_cfg: Optional[dict],
                      seg_weight: Optional[torch.Tensor] = None, return_logits: bool = False,
                      return_decoder_feat: bool = False) -> Dict[str, object]:
        """Losses of one batch.

        Args:
            gt_semantic_seg: (B, 1, H, W) labels.
            seg_weight: (B, H, W) per-pixel loss weight (MIC's pseudo-label weight).
            return_logits: add `logits` (B, C, h, w).
            return_decoder_feat: add `decoder_feat = dict(lr=features, lr_logits=logits,
                hr=None, hr_logits=None)` (features with grad, before dropout).
        """
        feat = self.forward_features(inputs)
        seg_logits = self.cls_seg(feat)
        losses = self.losses(seg_logits, gt_semantic_seg, seg_weight)
        if return_logits:
            losses['logits'] = seg_logits
        if return_decoder_feat:
            losses['decoder_feat'] = dict(lr=feat, lr_logits=seg_logits, hr=None, hr_logits=None)
        return losses

    def forward_test(self, inputs: Features, img_metas: List[dict],
                     test_cfg: Optional[dict]) -> torch.Tensor:
        """(B, num_classes, h, w) logits."""
        return self.forward(inputs)

    def losses(self, seg_logit: torch.Tensor, seg_label: torch.Tensor,
               seg_weight: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """`loss_seg` and `acc_seg` of (B, C, h, w) logits against (B, 1, H, W) labels.

        The logits are upsampled bilinearly to the label size first (as MMSeg 0.16's
        `BaseDecodeHead.losses`, which MIC uses) and
        the loss is computed in float32 (safe under autocast).
        """
        seg_logit = resize(seg_logit.float(), size=seg_label.shape[2:], mode='bilinear',
                           align_corners=self.align_corners)
        seg_label = seg_label.squeeze(1)
        return dict(
            loss_seg=self.loss_decode(seg_logit, seg_label, weight=seg_weight,
                                      ignore_index=self.ignore_index),
            acc_seg=accuracy(seg_logit, seg_label))
