"""A plain timm ViT (DINOv2, DINOv3, EVA02, ...) as a 4-level backbone for the decode heads.

The ViT is timm's own model (`timm.create_model`), so its checkpoints and timm's conversions of
the official DINOv2/DINOv3 files load unchanged; a pyramid module (a NECKS config) turns its
single-stride tokens into maps at strides 4, 8, 16 and 32 as MiT returns them.
"""
import contextlib
import difflib
import io
import math
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple, Union

import timm
import torch
import torch.nn as nn
from mmcv.runner import BaseModule

from ...ops import resize
from ...utils.checkpoint import load_state_dict_strict, read_state_dict
from ...utils.errors import UserError
from ..builder import BACKBONES, build_neck

OUT_STRIDES = (4, 8, 16, 32)
# Arguments of `timm.create_model` that TimmViT sets itself.
_FIXED_MODEL_KWARGS = ('pretrained', 'num_classes', 'dynamic_img_size', 'drop_path_rate')
# Parameters before the first block (layer 0 of layer-wise lr decay and of `freeze`).
_STEM_PARAM = re.compile(r'(?:^|\.)vit\.(?:patch_embed|cls_token|reg_token|pos_embed|norm_pre)'
                         r'(?:\.|$)')
_BLOCK_PARAM = re.compile(r'(?:^|\.)vit\.blocks\.(\d+)\.')
# Errors timm's checkpoint filters raise on a file of another layout.
_CONVERSION_ERRORS = (AttributeError, IndexError, KeyError, RuntimeError, TypeError, ValueError)


@BACKBONES.register_module()
class TimmViT(BaseModule):
    """A timm ViT whose 4 intermediate blocks feed a pyramid: (B, 3, H, W) -> 4 maps at
    strides 4, 8, 16, 32, of sizes exactly (ceil(H / s), ceil(W / s)) as MiT's.

    Input sizes: a ViT needs H and W to be multiples of its patch size p (14 for DINOv2 and
    EVA02, 16 for DINOv3). The input is bilinearly resized to the nearest multiples (512 ->
    518 for p = 14; unchanged for p = 16), and each pyramid map is resized back to the size
    the ORIGINAL input has at its stride. Every feature cell thus keeps covering the same image
    area, so HRDA's crop geometry (512 px crops, 8-px-aligned HR crop offsets), its LR/HR
    fusion and MIC's slide windows stay exactly MIC's; VFM-UDA resizes its crops to multiples
    of 14 the same way. Padding instead would put empty borders into every crop.

    Pyramids: a NECKS config built with `embed_dim` and `patch_size` (the ViT's) added. One
    kind maps the 4 intermediate block outputs (B, embed_dim, H / p, W / p) to 4 maps
    (`SimpleFeaturePyramid`); a pyramid with the class attribute `drives_vit = True` (a
    ViT-Adapter) is called as `pyramid(image, vit)` and runs the ViT's blocks itself. Either
    returns maps at about strides 4/8/16/32 of the resized input and has `out_channels`.

    The intermediate block outputs go through the ViT's final norm, as DINOv2's and DINOv3's
    dense evaluations take them (and so every ViT parameter is trained); prefix (class and
    register) tokens are dropped.

    Parameter names: `vit.patch_embed.*`, `vit.cls_token`, `vit.reg_token`, `vit.pos_embed`,
    `vit.blocks.{i}.*`, `vit.norm.*` (timm's), `pyramid.*`; `layer_id` numbers them for
    layer-wise lr decay.

    Args:
        model_name: timm model name, e.g. 'vit_large_patch14_dinov2',
            'vit_large_patch16_dinov3', 'eva02_large_patch14_224'.
        pretrained: path of the ViT's weights (timm's state dict as `.pth` or `.safetensors`,
            or an official DINOv2 / DINOv3 checkpoint), loaded by `init_weights`; None keeps
            timm's random initialisation. A segmentor-level `pretrained` is copied here.
        out_indices: the 4 blocks whose outputs feed the pyramid; default: evenly spaced,
            ending at the last block ((5, 11, 17, 23) for 24 blocks).
        pyramid: NECKS config of the pyramid; `embed_dim` and `patch_size` are added.
        freeze: 'none'; 'all' (the whole ViT); or k, the patch embedding, tokens and the first
            k blocks. Frozen parameters get requires_grad=False and frozen modules stay in
            eval mode (no dropout / drop-path) while the model trains.
        drop_path_rate: stochastic depth of the ViT's blocks.
        grad_checkpointing: recompute the blocks' activations in the backward pass (memory
            for time).
        model_kwargs: further `timm.create_model` arguments (e.g. embed_dim, depth, num_heads,
            img_size for tiny test models).

    The pyramid's initialisation is its own (an `init_cfg` in its config); the ViT starts from
    `pretrained` or timm's random initialisation.
    """

    def __init__(self, model_name: str, pretrained: Optional[str] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 pyramid: Optional[dict] = None, freeze: Union[str, int] = 'none',
                 drop_path_rate: float = 0., grad_checkpointing: bool = False,
                 model_kwargs: Optional[dict] = None):
        super().__init__()
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError(f'pretrained must be a str or None, got {type(pretrained).__name__}')
        self.model_name = model_name
        self.pretrained = pretrained
        self.vit = _create_vit(model_name, drop_path_rate, model_kwargs or {})
        self.vit.set_grad_checkpointing(grad_checkpointing)
        self.num_layers = len(self.vit.blocks)
        self.embed_dim = self.vit.embed_dim
        patch_h, patch_w = self.vit.patch_embed.patch_size
        assert patch_h == patch_w, f'{model_name}: non-square patches are not supported'
        self.patch_size = patch_h
        self.out_indices = self._check_out_indices(out_indices)
        self.frozen_up_to = self._check_freeze(freeze)

        pyramid = dict(pyramid or dict(type='SimpleFeaturePyramid'))
        if 'embed_dim' in pyramid or 'patch_size' in pyramid:
            raise UserError(f'backbone.pyramid: embed_dim and patch_size are set by TimmViT '
                            f'from {model_name}; remove them from the pyramid config')
        self.pyramid = build_neck(dict(pyramid, embed_dim=self.embed_dim,
                                       patch_size=self.patch_size))
        self.out_channels = list(self.pyramid.out_channels)

        for name, param in self.named_parameters():
            if name.startswith('vit.') and self.layer_id(name) <= self.frozen_up_to:
                param.requires_grad = False

    def _check_out_indices(self, out_indices: Optional[Sequence[int]]) -> List[int]:
        depth = self.num_layers
        if out_indices is None:
            return [(i + 1) * depth // 4 - 1 for i in range(4)]
        out_indices = list(out_indices)
        if len(out_indices) != 4 or sorted(set(out_indices)) != out_indices \
                or not 0 <= out_indices[0] <= out_indices[-1] < depth:
            raise UserError(f'backbone.out_indices={out_indices}: need 4 increasing block '
                            f'indices in [0, {depth - 1}] for {self.model_name} ({depth} blocks)')
        return out_indices

    def _check_freeze(self, freeze: Union[str, int]) -> int:
        """The last frozen `layer_id`: -1 for 'none', depth + 1 for 'all', k for k blocks."""
        if freeze == 'none':
            return -1
        if freeze == 'all':
            return self.num_layers + 1
        if isinstance(freeze, int) and not isinstance(freeze, bool) \
                and 0 <= freeze <= self.num_layers:
            return freeze
        raise UserError(f"backbone.freeze={freeze!r}: use 'none', 'all' or a number of "
                        f'blocks in [0, {self.num_layers}]')

    def layer_id(self, param_name: str) -> int:
        """0 for the patch embedding, the tokens (and timm's `norm_pre`), i + 1 for
        `vit.blocks.i`, depth + 1 for the rest (final norm, pyramid). `param_name` may carry a
        prefix ('backbone.')."""
        if _STEM_PARAM.search(param_name):
            return 0
        block = _BLOCK_PARAM.search(param_name)
        if block:
            return int(block.group(1)) + 1
        return self.num_layers + 1

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_up_to > self.num_layers:
            return [self.vit]
        if self.frozen_up_to < 0:
            return []
        return [self.vit.patch_embed, *self.vit.blocks[:self.frozen_up_to]]

    def train(self, mode: bool = True) -> 'TimmViT':
        """Train as usual, but keep the frozen part in eval mode (no dropout / drop-path)."""
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def init_weights(self) -> None:
        """Load `pretrained` into the ViT (timm's constructor has already initialised it
        randomly; mmcv's recursion would re-initialise it), then initialise the pyramid."""
        if self.pretrained is not None:
            self.load_pretrained(self.pretrained)
        if hasattr(self.pyramid, 'init_weights'):
            self.pyramid.init_weights()

    def load_pretrained(self, path: str) -> None:
        """Load the ViT's weights: timm's layout, or an official layout timm converts.

        The file's state dict goes through the `checkpoint_filter_fn` of the model's timm
        module (official DINOv2: `mask_token`, `register_tokens`, `w12/w3`; DINOv3:
        `storage_tokens`, `ls1.gamma`, `qkv.bias`, `rope_embed.periods`; `pos_embed`
        resampled to the model's grid), a `head.*` classifier is dropped, and the rest must fit
        the ViT exactly (one UserError lists the differences).
        """
        if not osp.isfile(path):
            raise UserError(
                f'pretrained ViT weights not found: {path}. Put the weights of '
                f'{self.model_name} (timm .safetensors / .pth, or the official DINOv2 / DINOv3 '
                f'.pth) into pretrained/, e.g. pretrained/{osp.basename(path)}, or set '
                f'model.pretrained=None to start from a random initialisation.')
        hint = f'is it the weights of {self.model_name}?'
        state_dict = self._to_timm_layout(read_state_dict(path), path, hint)
        load_state_dict_strict(
            self.vit, state_dict, path,
            f'{self.model_name} (embed_dim {self.embed_dim}, depth {self.num_layers})', hint)

    def _to_timm_layout(self, state_dict: Dict[str, torch.Tensor], path: str,
                        hint: str) -> Dict[str, torch.Tensor]:
        filter_fn = getattr(sys.modules[type(self.vit).__module__], 'checkpoint_filter_fn', None)
        if filter_fn is not None:
            # timm's filters pop keys from their input and print() while probing DINOv3 biases.
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    state_dict = filter_fn(dict(state_dict), self.vit)
            except _CONVERSION_ERRORS as err:
                message = str(err).splitlines()[0] if str(err) else ''
                raise UserError(f'{path} could not be converted to the layout of '
                                f'{self.model_name} ({type(err).__name__}: {message}); '
                                f'{hint}') from None
        return {k: v for k, v in state_dict.items() if not k.startswith('head.')}

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """(B, 3, H, W) -> [(B, out_channels[i], ceil(H / s), ceil(W / s)) for s = 4, 8, 16,
        32]."""
        height, width = x.shape[-2:]
        vit_size = (_nearest_multiple(height, self.patch_size),
                    _nearest_multiple(width, self.patch_size))
        if vit_size != (height, width):
            x = resize(x, size=vit_size, mode='bilinear', align_corners=False)
        if getattr(self.pyramid, 'drives_vit', False):
            outs = self.pyramid(x, self.vit)
        else:
            outs = self.pyramid(self.vit.forward_intermediates(
                x, indices=self.out_indices, norm=True, stop_early=True, output_fmt='NCHW',
                intermediates_only=True))
        return [_resize_to(out, (math.ceil(height / s), math.ceil(width / s)))
                for out, s in zip(outs, OUT_STRIDES)]


def _create_vit(model_name: str, drop_path_rate: float, model_kwargs: dict) -> nn.Module:
    """`timm.create_model` without a classifier, for any input size (pos_embed interpolated)."""
    if not timm.is_model(model_name):
        close = difflib.get_close_matches(model_name, timm.list_models(), n=5, cutoff=0.5)
        raise UserError(f'backbone.model_name={model_name!r} is not a timm model; close '
                        f'names: {", ".join(close) or "none"} (see timm.list_models())')
    fixed = sorted(set(model_kwargs) & set(_FIXED_MODEL_KWARGS))
    if fixed:
        raise UserError(f'backbone.model_kwargs: {fixed} are set by TimmViT (drop_path_rate '
                        'is its own key); remove them from model_kwargs')
    return timm.create_model(model_name, pretrained=False, num_classes=0,
                             dynamic_img_size=True, drop_path_rate=drop_path_rate,
                             **model_kwargs)


def _nearest_multiple(size: int, patch_size: int) -> int:
    """The multiple of `patch_size` nearest to `size` (halves round up), at least one patch."""
    return max(1, (2 * size + patch_size) // (2 * patch_size)) * patch_size


def _resize_to(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return resize(x, size=size, mode='bilinear', align_corners=False)
