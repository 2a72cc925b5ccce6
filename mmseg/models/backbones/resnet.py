"""ResNet backbones of MMSegmentation 0.x (`ResNet` = V1b, `ResNetV1c`, `ResNetV1d`).

Module names and state-dict keys are mmseg 0.x's, so open-mmlab's ImageNet checkpoints
(`open-mmlab://resnet101_v1c`: `stem.0.weight`, `layer1.0.conv1.weight`, `layer1.0.bn1.*`,
`layer1.0.downsample.0.weight`, ...) load unchanged. The plain `ResNet` has torchvision's key
layout (`conv1`, `bn1`, `layer*`), so torchvision's ImageNet weights load into it as well.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.runner import BaseModule, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from ...utils.checkpoint import load_backbone_weights
from ...utils.model_zoo import resolve_pretrained
from ..builder import BACKBONES


class Bottleneck(BaseModule):
    """1x1 -> 3x3 (dilated) -> 1x1 residual block with 4x channel expansion.

    style 'pytorch' puts the stride on the 3x3 conv (ResNet V1.5, as torchvision), 'caffe' on
    the first 1x1 conv. Norm layers are named `bn1..bn3` (mmcv's BN abbreviation + postfix).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch',
                 with_cp: bool = False, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'), init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        assert style in ['pytorch', 'caffe']
        conv1_stride, conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)
        self.with_cp = with_cp
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, kernel_size=1,
                                      stride=conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, kernel_size=3,
                                      stride=conv2_stride, padding=dilation, dilation=dilation,
                                      bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, planes, planes * self.expansion, kernel_size=1,
                                      bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    # The norm layers by role; mmseg's init configs address them as norm1..norm3.
    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._residual, x, use_reentrant=False)
        else:
            out = self._residual(x)
        return self.relu(out)


class ResLayer(Sequential):
    """One stage: `num_blocks` Bottlenecks, the first one strided and with a projection shortcut.

    Args:
        dilation: dilation of the stage's 3x3 convs.
        avg_down: shortcut = AvgPool(stride) then a stride-1 1x1 conv (V1d) instead of a strided
            1x1 conv.
        multi_grid: per-block dilations (overrides `dilation`).
        contract_dilation: the first block uses dilation // 2 when dilation > 1 (DeepLab).
    """

    def __init__(self, inplanes: int, planes: int, num_blocks: int, stride: int = 1,
                 dilation: int = 1, avg_down: bool = False, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'), multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False, **block_kwargs):
        block = Bottleneck
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            layers = []
            conv_stride = stride
            if avg_down:
                conv_stride = 1
                layers.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                           count_include_pad=False))
            layers += [
                build_conv_layer(conv_cfg, inplanes, planes * block.expansion, kernel_size=1,
                                 stride=conv_stride, bias=False),
                build_norm_layer(norm_cfg, planes * block.expansion)[1]]
            downsample = nn.Sequential(*layers)
        if multi_grid is not None:
            dilations = list(multi_grid)
        else:
            first = dilation // 2 if (dilation > 1 and contract_dilation) else dilation
            dilations = [first] + [dilation] * (num_blocks - 1)
        blocks = [block(inplanes, planes, stride=stride, dilation=dilations[0],
                        downsample=downsample, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                        **block_kwargs)]
        blocks += [block(planes * block.expansion, planes, stride=1, dilation=dilations[i],
                         conv_cfg=conv_cfg, norm_cfg=norm_cfg, **block_kwargs)
                   for i in range(1, num_blocks)]
        super().__init__(*blocks)


@BACKBONES.register_module()
class ResNet(BaseModule):
    """ResNet (V1b: 7x7 stem conv) with mmseg 0.x's arguments and state-dict keys.

    Args:
        depth: 50, 101 or 152 (Bottleneck ResNets).
        in_channels: input image channels.
        stem_channels: output channels of the stem.
        base_channels: channels of the first stage's 3x3 convs (x 2^i per stage).
        num_stages: stages used (1-4).
        strides, dilations: per stage; DeepLab's output stride 8 is strides (1, 2, 1, 1) with
            dilations (1, 1, 2, 4).
        out_indices: stages whose outputs are returned.
        style: 'pytorch' (stride on the 3x3 conv) or 'caffe' (on the first 1x1 conv).
        deep_stem: three 3x3 convs (`stem.*`) instead of the 7x7 conv (V1c/V1d).
        avg_down: average-pool shortcut in downsampling blocks (V1d).
        frozen_stages: stages (0 = stem) whose weights and norm statistics are frozen; -1: none.
        conv_cfg, norm_cfg: mmcv layer configs.
        norm_eval: keep the norm layers in eval mode during training.
        multi_grid: dilations of the last stage's blocks.
        contract_dilation: halve the first dilation of each dilated stage.
        with_cp: gradient checkpointing of the blocks.
        zero_init_residual: random init sets each block's last norm weight to 0.
        pretrained: checkpoint path, `open-mmlab://NAME` or `torchvision://NAME` (see
            `load_pretrained`).
        init_cfg: mmcv init config; exclusive with `pretrained`.
    """

    arch_settings = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: int = 64,
                 base_channels: int = 64, num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3), style: str = 'pytorch',
                 deep_stem: bool = False, avg_down: bool = False, frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True), norm_eval: bool = False,
                 multi_grid: Optional[Sequence[int]] = None, contract_dilation: bool = False,
                 with_cp: bool = False, zero_init_residual: bool = True,
                 pretrained: Optional[str] = None, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for resnet (supported: '
                           f'{sorted(self.arch_settings)})')
        assert not (init_cfg and pretrained), \
            'init_cfg and pretrained cannot be set at the same time'
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError(f'pretrained must be a str or None, got {type(pretrained).__name__}')
        assert 1 <= num_stages <= 4
        assert len(strides) == len(dilations) == num_stages
        assert max(out_indices) < num_stages
        self.pretrained = pretrained
        block_init_cfg = None
        if pretrained is None and init_cfg is None:
            # mmseg 0.x's random init: Kaiming convs, unit norms, zero last norm per block.
            self.init_cfg = [dict(type='Kaiming', layer='Conv2d'),
                             dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
            if zero_init_residual:
                block_init_cfg = dict(type='Constant', val=0, override=dict(name='norm3'))
        self.depth = depth
        self.deep_stem = deep_stem
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.out_indices = out_indices
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers = []
        inplanes = stem_channels
        stage_blocks = self.arch_settings[depth][:num_stages]
        for i, num_blocks in enumerate(stage_blocks):
            planes = base_channels * 2**i
            layer = ResLayer(inplanes, planes, num_blocks, stride=strides[i],
                             dilation=dilations[i], avg_down=avg_down, conv_cfg=conv_cfg,
                             norm_cfg=norm_cfg,
                             multi_grid=multi_grid if i == len(stage_blocks) - 1 else None,
                             contract_dilation=contract_dilation, style=style,
                             with_cp=with_cp, init_cfg=block_init_cfg)
            inplanes = planes * Bottleneck.expansion
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
        self.feat_dim = inplanes
        self._freeze_stages()

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        """7x7/2 conv + norm + ReLU (`conv1`, `bn1`), or with `deep_stem` three 3x3 convs
        (`stem.0/1`, `stem.3/4`, `stem.6/7`), then a 3x3/2 max-pool: output stride 4."""
        if self.deep_stem:
            half = stem_channels // 2
            layers = []
            for cin, cout, stride in [(in_channels, half, 2), (half, half, 1),
                                      (half, stem_channels, 1)]:
                layers += [build_conv_layer(self.conv_cfg, cin, cout, kernel_size=3,
                                            stride=stride, padding=1, bias=False),
                           build_norm_layer(self.norm_cfg, cout)[1], nn.ReLU(inplace=True)]
            self.stem = nn.Sequential(*layers)
        else:
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels,
                                          kernel_size=7, stride=2, padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        stem = [self.stem] if self.deep_stem else [self.conv1, getattr(self, self.norm1_name)]
        return stem + [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Load `pretrained`, else run the init config (mmseg 0.x's random init by default)."""
        if self.pretrained is not None:
            self.load_pretrained(self.pretrained)
        else:
            super().init_weights()

    def load_pretrained(self, source: str) -> None:
        """Load ImageNet weights from a file, `open-mmlab://NAME` or `torchvision://NAME`.

        Accepted layouts: a raw state dict or one under `state_dict`/`model`, with mmseg 0.x's
        keys (open-mmlab's `resnet*_v1c`, or a plain `ResNet`'s, which are torchvision's).
        The ImageNet classifier `fc.*` is dropped. Every backbone parameter and norm buffer
        must be present (`num_batches_tracked` may be absent) and no other key may remain;
        otherwise one UserError lists the differences. MIC loads non-strictly; strict here
        catches a wrong file early (e.g. torchvision's 7x7 stem for a deep-stem ResNetV1c).
        """
        path = resolve_pretrained(source)
        hint = ('a deep-stem ResNetV1c/V1d needs an open-mmlab resnet*_v1c checkpoint; '
                'torchvision weights fit type=ResNet' if self.deep_stem else
                'type=ResNet fits torchvision weights; open-mmlab resnet*_v1c checkpoints '
                'need type=ResNetV1c')
        load_backbone_weights(self, path, 'fc.', f'{type(self).__name__}-{self.depth}', hint,
                              optional_suffix='num_batches_tracked')

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """(B, C_in, H, W) -> maps of the `out_indices` stages (strides 4, 8, 16, 32 without
        dilation; 4, 8, 8, 8 with DeepLab's strides (1, 2, 1, 1))."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(getattr(self, self.norm1_name)(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return outs

    def train(self, mode: bool = True) -> 'ResNet':
        """Train mode except for frozen stages and, with `norm_eval`, every norm layer."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


@BACKBONES.register_module()
class ResNetV1c(ResNet):
    """ResNet with the deep stem (three 3x3 convs instead of the 7x7 conv), as MIC's DeepLabV2.

    open-mmlab's `resnet50_v1c` / `resnet101_v1c` ImageNet checkpoints fit it.
    """

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@BACKBONES.register_module()
class ResNetV1d(ResNet):
    """ResNetV1c plus average-pool shortcuts in the downsampling blocks."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
