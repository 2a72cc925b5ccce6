"""Mix Transformer (MiT), the SegFormer encoder used by DAFormer, HRDA and MIC.

Re-implemented after the architecture of the SegFormer paper (Xie et al., NeurIPS 2021) and its
`mix_transformer.py` as DAFormer/HRDA/MIC ship it; parameter names equal SegFormer's so its
ImageNet checkpoints (`mit_b*.pth`) load unchanged. Licence: see the README's Licences section.
"""
import math
import os.path as osp
from functools import partial
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.runner import BaseModule
from timm.layers import DropPath, trunc_normal_

from ...utils.checkpoint import load_backbone_weights
from ...utils.errors import UserError
from ..builder import BACKBONES

# Block and stage norms use eps 1e-6; the patch-embedding and attention norms keep PyTorch's
# default 1e-5 (as SegFormer's `MixVisionTransformer` / `OverlapPatchEmbed` / `Attention`).
BlockNorm = partial(nn.LayerNorm, eps=1e-6)


class OverlapPatchEmbed(nn.Module):
    """Strided convolution with overlapping windows, then LayerNorm over the tokens.

    (B, C_in, H, W) -> tokens (B, H' * W', C), H', W' (H' = ceil(H / stride)).
    """

    def __init__(self, kernel_size: int, stride: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size, stride=stride,
                              padding=kernel_size // 2)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        _, _, h, w = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x, h, w


class Attention(nn.Module):
    """Efficient self-attention: keys and values come from a `sr_ratio`-times reduced grid.

    Computed with `F.scaled_dot_product_attention`, which equals softmax(q k^T * scale) v.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, attn_drop: float = 0.,
                 proj_drop: float = 0., sr_ratio: int = 1):
        super().__init__()
        assert dim % num_heads == 0, f'dim {dim} must be divisible by num_heads {num_heads}'
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads)**-0.5
        self.attn_drop = attn_drop
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, N, C) tokens of an h x w grid -> (B, N, C)."""
        b, n, c = x.shape
        head_dim = c // self.num_heads
        q = self.q(x).reshape(b, n, self.num_heads, head_dim).transpose(1, 2)
        if self.sr_ratio > 1:
            grid = x.transpose(1, 2).reshape(b, c, h, w)
            kv_tokens = self.norm(self.sr(grid).flatten(2).transpose(1, 2))
        else:
            kv_tokens = x
        # kv channels: first C are the keys, next C the values, each split into heads.
        kv = self.kv(kv_tokens).reshape(b, -1, 2, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0., scale=self.scale)
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class DWConv(nn.Module):
    """3x3 depthwise convolution on tokens; with its zero padding it carries position info."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w))
        return x.flatten(2).transpose(1, 2)


class MixFFN(nn.Module):
    """fc1 -> depthwise 3x3 conv -> GELU -> fc2 (the SegFormer "Mix-FFN")."""

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.dwconv = DWConv(hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.act(self.dwconv(self.fc1(x), h, w))
        x = self.drop(x)
        return self.drop(self.fc2(x))


class Block(nn.Module):
    """Pre-norm transformer block: x + DropPath(Attn(norm1 x)), then x + DropPath(FFN(norm2 x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool,
                 qk_scale: Optional[float], drop: float, attn_drop: float, drop_path: float,
                 sr_ratio: int):
        super().__init__()
        self.norm1 = BlockNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                              attn_drop=attn_drop, proj_drop=drop, sr_ratio=sr_ratio)
        # A rate of exactly 0 (the first block) gets Identity, as in SegFormer.
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = BlockNorm(dim)
        self.mlp = MixFFN(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.mlp(self.norm2(x), h, w))


@BACKBONES.register_module()
class MixVisionTransformer(BaseModule):
    """Four-stage hierarchical transformer returning maps at strides 4, 8, 16 and 32.

    Parameters are named `patch_embed{s}`, `block{s}.{j}`, `norm{s}` (s = 1..4) as in SegFormer.

    Args:
        in_chans: input channels.
        embed_dims, num_heads, mlp_ratios, depths, sr_ratios: per-stage architecture (4 each).
        qkv_bias: bias of the q and kv projections.
        qk_scale: attention scale; None means head_dim ** -0.5.
        drop_rate, attn_drop_rate: dropout rates (0 in every MiT variant).
        drop_path_rate: stochastic depth; per-block rates are linspace(0, rate, sum(depths)).
        style: accepted for config compatibility (MIC's configs set 'pytorch'); no effect.
        pretrained: path of a SegFormer-format checkpoint loaded by `init_weights`.
        init_cfg: mmcv init config; exclusive with `pretrained`.
    """

    def __init__(self, in_chans: int = 3, embed_dims: Sequence[int] = (64, 128, 256, 512),
                 num_heads: Sequence[int] = (1, 2, 4, 8),
                 mlp_ratios: Sequence[float] = (4, 4, 4, 4),
                 qkv_bias: bool = True, qk_scale: Optional[float] = None, drop_rate: float = 0.,
                 attn_drop_rate: float = 0., drop_path_rate: float = 0.1,
                 depths: Sequence[int] = (3, 4, 6, 3), sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 style: Optional[str] = None, pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        assert not (init_cfg and pretrained), \
            'init_cfg and pretrained cannot be set at the same time'
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError(f'pretrained must be a str or None, got {type(pretrained).__name__}')
        self.pretrained = pretrained
        self.embed_dims = list(embed_dims)
        self.depths = list(depths)
        self.num_stages = len(depths)

        # MIC's registration order: the four patch embeddings first, then blocks and norm of
        # each stage. Parameter positions (optimizer state, the random init draws) follow it.
        for s in range(self.num_stages):
            kernel, stride = (7, 4) if s == 0 else (3, 2)
            chans = in_chans if s == 0 else embed_dims[s - 1]
            self.add_module(f'patch_embed{s + 1}',
                            OverlapPatchEmbed(kernel, stride, chans, embed_dims[s]))
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        cur = 0
        for s in range(self.num_stages):
            self.add_module(f'block{s + 1}', nn.ModuleList([
                Block(embed_dims[s], num_heads[s], mlp_ratios[s], qkv_bias, qk_scale, drop_rate,
                      attn_drop_rate, rates[cur + j], sr_ratios[s]) for j in range(depths[s])
            ]))
            self.add_module(f'norm{s + 1}', BlockNorm(embed_dims[s]))
            cur += depths[s]

    def init_weights(self) -> None:
        """Load `pretrained`, else run mmcv's `init_cfg`, else SegFormer's own init."""
        if self.pretrained is not None:
            self.load_pretrained(self.pretrained)
        elif self.init_cfg is not None:
            super().init_weights()
        else:
            self.apply(_segformer_init)

    def load_pretrained(self, path: str) -> None:
        """Load a SegFormer-format checkpoint; the ImageNet classifier `head.*` is dropped.

        Every backbone key must be present and no other key may remain (one UserError lists
        the differences). MIC loads non-strictly; being strict here catches a wrong file early.
        """
        if not osp.isfile(path):
            raise UserError(
                f'pretrained backbone weights not found: {path}. Put SegFormer\'s ImageNet '
                f'weights (e.g. mit_b5.pth for mit_b5) into pretrained/, or set '
                f'model.pretrained=None to start from a random initialisation.')
        load_backbone_weights(self, path, 'head.',
                              f'{type(self).__name__} {self.embed_dims}/{self.depths}',
                              'is it the right mit_b* file?')

    def forward_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """(B, 3, H, W) -> [(B, embed_dims[s], H / 2^(s+2), W / 2^(s+2)) for s = 0..3]."""
        b = x.shape[0]
        outs = []
        for s in range(1, self.num_stages + 1):
            x, h, w = getattr(self, f'patch_embed{s}')(x)
            for block in getattr(self, f'block{s}'):
                x = block(x, h, w)
            x = getattr(self, f'norm{s}')(x)
            x = x.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return self.forward_features(x)


def _segformer_init(m: nn.Module) -> None:
    """SegFormer's init: trunc-normal Linear, unit LayerNorm, He-normal (fan-out) Conv2d."""
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


# Published MiT variants (SegFormer paper; SegFormer's `mit_b0`..`mit_b5`); mlp_ratios are 4
# and sr_ratios 8,4,2,1 for all.
MIT_SETTINGS = {
    'mit_b0': dict(embed_dims=(32, 64, 160, 256), depths=(2, 2, 2, 2)),
    'mit_b1': dict(embed_dims=(64, 128, 320, 512), depths=(2, 2, 2, 2)),
    'mit_b2': dict(embed_dims=(64, 128, 320, 512), depths=(3, 4, 6, 3)),
    'mit_b3': dict(embed_dims=(64, 128, 320, 512), depths=(3, 4, 18, 3)),
    'mit_b4': dict(embed_dims=(64, 128, 320, 512), depths=(3, 8, 27, 3)),
    'mit_b5': dict(embed_dims=(64, 128, 320, 512), depths=(3, 6, 40, 3)),
}


def _register_variant(name: str) -> type:
    """A registered subclass `name` whose architecture is fixed to MIT_SETTINGS[name]."""

    def __init__(self, **kwargs):
        MixVisionTransformer.__init__(
            self, num_heads=(1, 2, 5, 8), mlp_ratios=(4, 4, 4, 4), qkv_bias=True,
            sr_ratios=(8, 4, 2, 1), **MIT_SETTINGS[name], **kwargs)

    cls = type(name, (MixVisionTransformer, ), {
        '__init__': __init__,
        '__module__': __name__,
        '__qualname__': name,
        '__doc__': f'MiT variant {name}: {MIT_SETTINGS[name]}; other args as the base class.'
    })
    return BACKBONES.register_module(name=name, module=cls)


mit_b0 = _register_variant('mit_b0')
mit_b1 = _register_variant('mit_b1')
mit_b2 = _register_variant('mit_b2')
mit_b3 = _register_variant('mit_b3')
mit_b4 = _register_variant('mit_b4')
mit_b5 = _register_variant('mit_b5')
