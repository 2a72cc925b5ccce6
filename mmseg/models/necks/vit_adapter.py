"""ViT-Adapter (Chen et al., ICLR 2023, "Vision Transformer Adapter for Dense Predictions").

A plain ViT has one scale (its patch grid) and no image prior; dense prediction wants a feature
pyramid. The adapter is a small convolutional network beside the ViT that exchanges information
with it between groups of blocks by deformable cross-attention, then outputs four maps at
strides 4, 8, 16 and 32. It drives the ViT itself (embedding, blocks, prefix tokens), so it is
given the ViT at every forward instead of owning it.
"""
from functools import partial
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmcv.cnn.utils.weight_init import kaiming_init, trunc_normal_init
from timm.layers import DropPath
from timm.models import checkpoint
from timm.models.eva import Eva
from torch import Tensor

from ...utils.errors import UserError
from ..builder import NECKS
from ..utils.ms_deform_attn import MSDeformAttn

NUM_INTERACTIONS = 4  # the paper's design: one interaction per quarter of the ViT's blocks
SPM_STRIDE = 16  # the stride of the spatial prior's third level, which matches the ViT's grid
Shape = Tuple[int, int]


class SpatialPriorModule(nn.Module):
    """Convolutional stem giving the local, multi-scale image prior a ViT lacks.

    (B, 3, H, W) -> c1..c4 of (B, embed_dim, H / s, W / s) for s = 4, 8, 16, 32 (each stride-2
    step rounds up: a size n becomes ceil(n / 2)).

    Args:
        inplanes: width of the stem; the later stages have 2x and 4x as many channels.
        embed_dim: channels of the outputs (the ViT's width).
        norm_cfg: norm of every conv of the stem (mmcv config).
    """

    def __init__(self, inplanes: int, embed_dim: int, norm_cfg: dict):
        super().__init__()
        self.stem = nn.Sequential(
            ConvModule(3, inplanes, 3, stride=2, padding=1, norm_cfg=norm_cfg),
            ConvModule(inplanes, inplanes, 3, padding=1, norm_cfg=norm_cfg),
            ConvModule(inplanes, inplanes, 3, padding=1, norm_cfg=norm_cfg),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.conv2 = ConvModule(inplanes, 2 * inplanes, 3, stride=2, padding=1, norm_cfg=norm_cfg)
        self.conv3 = ConvModule(2 * inplanes, 4 * inplanes, 3, stride=2, padding=1,
                                norm_cfg=norm_cfg)
        self.conv4 = ConvModule(4 * inplanes, 4 * inplanes, 3, stride=2, padding=1,
                                norm_cfg=norm_cfg)
        self.fc1 = nn.Conv2d(inplanes, embed_dim, 1)
        self.fc2 = nn.Conv2d(2 * inplanes, embed_dim, 1)
        self.fc3 = nn.Conv2d(4 * inplanes, embed_dim, 1)
        self.fc4 = nn.Conv2d(4 * inplanes, embed_dim, 1)

    def forward(self, image: Tensor) -> List[Tensor]:
        c1 = self.stem(image)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        c4 = self.conv4(c3)
        return [self.fc1(c1), self.fc2(c2), self.fc3(c3), self.fc4(c4)]


class ConvFFN(nn.Module):
    """MLP with a depthwise 3x3 conv on each level's map, to mix neighbouring positions.

    (B, sum_l h_l * w_l, dim) -> same shape; the levels are convolved separately with the
    same weights.

    Args:
        dim: token channels.
        hidden_dim: channels of the hidden layer.
    """

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor, level_shapes: Sequence[Shape]) -> Tensor:
        x = self.fc1(x)
        levels = x.split([h * w for h, w in level_shapes], dim=1)
        x = torch.cat([
            self.dwconv(level.transpose(1, 2).unflatten(2, shape)).flatten(2).transpose(1, 2)
            for level, shape in zip(levels, level_shapes)], dim=1)
        return self.fc2(self.act(x))


class Injector(nn.Module):
    """Spatial prior -> ViT: the ViT's patch tokens attend to the adapter's pyramid.

    The result is added through a per-channel gate `gamma`; with `gamma = 0` (the default
    init) the ViT starts exactly as pretrained.

    Args:
        dim: channels of tokens and pyramid.
        n_levels: pyramid levels attended to.
        n_heads, n_points, deform_ratio: of the deformable attention.
        init_values: initial value of `gamma`.
    """

    def __init__(self, dim: int, n_levels: int, n_heads: int, n_points: int,
                 deform_ratio: float, init_values: float):
        super().__init__()
        self.query_norm = nn.LayerNorm(dim, eps=1e-6)
        self.feat_norm = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MSDeformAttn(dim, n_levels, n_heads, n_points, deform_ratio)
        self.gamma = nn.Parameter(torch.full((dim, ), float(init_values)))

    def forward(self, query: Tensor, reference_points: Tensor, feat: Tensor,
                feat_shapes: List[Shape], feat_starts: List[int]) -> Tensor:
        """(B, h * w, dim) tokens, (B, S, dim) pyramid -> (B, h * w, dim) tokens."""
        attn = self.attn(self.query_norm(query), reference_points, self.feat_norm(feat),
                         feat_shapes, feat_starts)
        return query + self.gamma * attn


class Extractor(nn.Module):
    """ViT -> spatial prior: the pyramid's positions attend to the ViT's patch tokens, then
    an optional ConvFFN refines them.

    Args:
        dim: channels of tokens and pyramid.
        n_heads, n_points, deform_ratio: of the deformable attention (one level: the grid).
        with_cffn: add the ConvFFN.
        cffn_ratio: hidden width of the ConvFFN relative to `dim`.
        drop_path: stochastic depth rate of the ConvFFN branch.
    """

    def __init__(self, dim: int, n_heads: int, n_points: int, deform_ratio: float,
                 with_cffn: bool, cffn_ratio: float, drop_path: float):
        super().__init__()
        self.query_norm = nn.LayerNorm(dim, eps=1e-6)
        self.feat_norm = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MSDeformAttn(dim, 1, n_heads, n_points, deform_ratio)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-6) if with_cffn else None
        self.ffn = ConvFFN(dim, int(dim * cffn_ratio)) if with_cffn else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, query: Tensor, reference_points: Tensor, feat: Tensor, grid: Shape,
                query_shapes: List[Shape]) -> Tensor:
        """(B, S, dim) pyramid, (B, h * w, dim) tokens on `grid` -> (B, S, dim) pyramid."""
        query = query + self.attn(self.query_norm(query), reference_points,
                                  self.feat_norm(feat), [grid], [0])
        if self.ffn is not None:
            query = query + self.drop_path(self.ffn(self.ffn_norm(query), query_shapes))
        return query


class Geometry(NamedTuple):
    """Where the tokens of one forward lie: the ViT's patch grid and the pyramid's levels
    (c2, c3, c4), with the normalised centres of their positions as reference points."""
    grid: Shape
    levels: List[Shape]
    level_starts: List[int]
    grid_points: Tensor  # (1, h * w, 1, 2), queries of the injectors
    level_points: Tensor  # (1, S, 1, 2), queries of the extractors

    @classmethod
    def build(cls, grid: Shape, levels: List[Shape], device: torch.device) -> 'Geometry':
        sizes = [h * w for h, w in levels]
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        return cls(grid, levels, starts, _centres([grid], device),
                   _centres(levels, device))


def _centres(shapes: Sequence[Shape], device: torch.device) -> Tensor:
    """Normalised (x, y) centres of the positions of row-major maps: (1, sum h * w, 1, 2).

    float32 whatever the autocast dtype: in bf16 a centre would be off by up to 1/4 pixel on a
    64-wide map."""
    points = []
    for h, w in shapes:
        y, x = torch.meshgrid((torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h,
                              (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w,
                              indexing='ij')
        points.append(torch.stack([x.flatten(), y.flatten()], dim=-1))
    return torch.cat(points)[None, :, None]


class InteractionBlock(nn.Module):
    """One interaction: injector -> a group of the ViT's blocks -> extractor(s).

    Args:
        dim, n_heads, n_points, deform_ratio, init_values, with_cffn, cffn_ratio, drop_path:
            of the injector and extractors.
        extra_extractors: extractors run after the first one (the paper adds 2 to the last
            interaction, so the pyramid also sees the ViT's final tokens twice more).
    """

    def __init__(self, dim: int, n_heads: int, n_points: int, deform_ratio: float,
                 init_values: float, with_cffn: bool, cffn_ratio: float, drop_path: float,
                 extra_extractors: int = 0):
        super().__init__()
        self.injector = Injector(dim, 3, n_heads, n_points, deform_ratio, init_values)
        self.extractors = nn.ModuleList([
            Extractor(dim, n_heads, n_points, deform_ratio, with_cffn, cffn_ratio, drop_path)
            for _ in range(1 + extra_extractors)])

    def forward(self, prefix: Tensor, x: Tensor, c: Tensor,
                run_blocks: Callable[[Tensor], Tensor],
                geometry: Geometry) -> Tuple[Tensor, Tensor, Tensor]:
        """prefix: (B, n_prefix, dim) class/register tokens, x: (B, h * w, dim) patch tokens,
        c: (B, S, dim) pyramid; `run_blocks` maps all tokens through this group's ViT blocks.
        Returns the three, updated; the prefix tokens only go through the blocks."""
        x = self.injector(x, geometry.grid_points, c, geometry.levels, geometry.level_starts)
        tokens = run_blocks(torch.cat([prefix, x], dim=1))
        prefix, x = tokens[:, :prefix.shape[1]], tokens[:, prefix.shape[1]:]
        for extractor in self.extractors:
            c = extractor(c, geometry.level_points, x, geometry.grid, geometry.levels)
        return prefix, x, c


@NECKS.register_module()
class ViTAdapter(nn.Module):
    """ViT-Adapter: four-scale features from a plain (timm) ViT, for a segmentation decoder.

    Built by the ViT backbone with `embed_dim` and `patch_size` filled in; it runs the ViT it
    is given at each forward (`drives_vit`): patch and position embedding, then for each of 4
    interactions an injector (tokens attend to the spatial prior), that group of the ViT's
    blocks, and an extractor (the prior attends to the tokens). The ViT's prefix tokens
    (class, registers) go through the blocks but are neither injected into nor read. Rotary
    position embeddings of Eva models (EVA02, DINOv3) are passed to their blocks as their
    `forward_features` does; the ViT's final norm and head are not used.

    Output sizes, with (h, w) = (H / patch_size, W / patch_size) the patch grid:
    (4h, 4w), (2h, 2w), (h, w), (ceil(h / 2), ceil(w / 2)); for patch size 16 these are the
    strides 4, 8, 16, 32 exactly. To get there for any patch size, the spatial prior module
    sees the image resized to (16h, 16w) (for patch 14: 8/7 larger; for 16: unchanged).

    Norms: the official code uses SyncBN in the spatial prior and on the outputs. Here the
    default is GroupNorm (32 groups): UDA trains with 2 images per GPU, in separate source,
    target and mixed passes, and evaluates with an EMA teacher; batch statistics of 2 images
    are noisy, and running statistics would mix the domains and differ between the student's
    training mode and the teacher's eval mode. GroupNorm behaves the same in all of them.
    `norm_cfg=dict(type='SyncBN', requires_grad=True)` reproduces the official model.

    Args:
        embed_dim: the ViT's width (set by the backbone).
        patch_size: the ViT's patch size (set by the backbone).
        interaction_indexes: 4 [first, last] block ranges (inclusive) covering all blocks in
            order, e.g. [[0, 2], [3, 5], [6, 8], [9, 11]]; None: 4 equal groups of the ViT's
            blocks (as the paper's configs for 12 and 24 blocks), taken from the ViT at forward.
        conv_inplane: width of the spatial prior module's stem (64 in the paper).
        n_points: sampling points per head and level of the deformable attentions.
        deform_num_heads: heads of the deformable attentions; must divide
            int(embed_dim * deform_ratio). None: embed_dim // 64, the ViT's own head count
            for ViT-S/B/L/g widths (384, 768, 1024, 1536), as in the paper's configs.
        cffn_ratio: hidden width of the extractors' ConvFFN relative to embed_dim.
        deform_ratio: value channels of the deformable attentions relative to embed_dim.
        with_cffn: whether the extractors have a ConvFFN.
        init_values: initial injector gate; 0 starts with the pretrained ViT unchanged.
        add_vit_feature: add the tokens after each interaction (resized) to the outputs of
            the matching scale, as the paper does.
        drop_path_rate: stochastic depth of the extractors' ConvFFN branches.
        out_channels: channels of the 4 outputs: None (embed_dim), an int, or a list of 4;
            a level whose channels differ from embed_dim gets a 1x1 conv before its norm.
        norm_cfg: norm of the spatial prior module and of the outputs (mmcv config).
    """

    drives_vit = True

    def __init__(self, embed_dim: int, patch_size: int,
                 interaction_indexes: Optional[Sequence[Sequence[int]]] = None,
                 conv_inplane: int = 64, n_points: int = 4,
                 deform_num_heads: Optional[int] = None, cffn_ratio: float = 0.25,
                 deform_ratio: float = 0.5, with_cffn: bool = True, init_values: float = 0.,
                 add_vit_feature: bool = True, drop_path_rate: float = 0.,
                 out_channels: Optional[Union[int, Sequence[int]]] = None,
                 norm_cfg: Optional[dict] = None):
        super().__init__()
        norm_cfg = norm_cfg or dict(type='GN', num_groups=32, requires_grad=True)
        heads = max(embed_dim // 64, 1) if deform_num_heads is None else deform_num_heads
        if int(embed_dim * deform_ratio) % heads:
            raise UserError(
                f'ViTAdapter: deform_num_heads={heads} does not divide the attention value '
                f'width int(embed_dim * deform_ratio) = int({embed_dim} * {deform_ratio}); '
                f'set neck deform_num_heads to a divisor of it.')
        self.interaction_indexes = _check_indexes(interaction_indexes)
        self.out_channels = _out_channels(out_channels, embed_dim)
        _check_group_norm(norm_cfg, [conv_inplane] + self.out_channels)
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.add_vit_feature = add_vit_feature

        self.spm = SpatialPriorModule(conv_inplane, embed_dim, norm_cfg)
        self.level_embed = nn.Parameter(torch.zeros(3, embed_dim))
        self.interactions = nn.ModuleList([
            InteractionBlock(embed_dim, heads, n_points, deform_ratio, init_values, with_cffn,
                             cffn_ratio, drop_path_rate,
                             extra_extractors=2 if i == NUM_INTERACTIONS - 1 else 0)
            for i in range(NUM_INTERACTIONS)])
        self.up = nn.ConvTranspose2d(embed_dim, embed_dim, 2, 2)
        self.out_layers = nn.ModuleList([
            build_norm_layer(norm_cfg, channels)[1] if channels == embed_dim else
            ConvModule(embed_dim, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
            for channels in self.out_channels])
        self.init_weights()

    def init_weights(self) -> None:
        """The paper's init: truncated-normal linears, He-normal (fan-out) convs, Deformable
        DETR's init for the attentions, standard-normal level embeddings. The injector gates
        keep `init_values`; the ViT is not touched."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m, std=.02)
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                kaiming_init(m, mode='fan_out', distribution='normal')
        for m in self.modules():
            if isinstance(m, MSDeformAttn):
                m.init_weights()
        nn.init.normal_(self.level_embed)

    def forward(self, image: Tensor, vit: nn.Module) -> List[Tensor]:
        """(B, 3, H, W) image, H and W multiples of patch_size; `vit` a timm VisionTransformer
        or Eva. Returns [(B, out_channels[i], *size_i)] with the sizes of the class docstring.
        Each of the ViT's blocks runs exactly once."""
        grid = (image.shape[2] // self.patch_size, image.shape[3] // self.patch_size)
        groups = self.interaction_indexes or _equal_groups(len(vit.blocks))
        _check_covers(groups, len(vit.blocks))

        prior = F.interpolate(image, size=(SPM_STRIDE * grid[0], SPM_STRIDE * grid[1]),
                              mode='bilinear', align_corners=False) \
            if self.patch_size != SPM_STRIDE else image
        c1, *pyramid = self.spm(prior)
        geometry = Geometry.build(grid, [tuple(c.shape[2:]) for c in pyramid], image.device)
        c = torch.cat([(level.flatten(2).transpose(1, 2) + embed)
                       for level, embed in zip(pyramid, self.level_embed)], dim=1)

        tokens, rope = _embed(vit, image, grid)
        prefix, x = tokens[:, :vit.num_prefix_tokens], tokens[:, vit.num_prefix_tokens:]
        stages = []
        for (first, last), interaction in zip(groups, self.interactions):
            run_blocks = partial(_run_blocks, vit, rope=rope, first=first, last=last)
            prefix, x, c = interaction(prefix, x, c, run_blocks, geometry)
            stages.append(x)

        c2, c3, c4 = (level.transpose(1, 2).unflatten(2, shape) for level, shape in
                      zip(c.split([h * w for h, w in geometry.levels], dim=1), geometry.levels))
        outs = [c1 + self.up(c2), c2, c3, c4]
        if self.add_vit_feature:
            outs = [out + F.interpolate(stage.transpose(1, 2).unflatten(2, grid),
                                        size=out.shape[2:], mode='bilinear', align_corners=False)
                    for out, stage in zip(outs, stages)]
        return [layer(out) for layer, out in zip(self.out_layers, outs)]


def _embed(vit: nn.Module, image: Tensor, grid: Shape) -> Tuple[Tensor, Optional[Tensor]]:
    """The ViT's tokens before its first block, (B, n_prefix + h * w, C), and its rotary
    embedding (None without), computed as its `forward_features` does."""
    x = vit.patch_embed(image)
    if isinstance(vit, Eva):
        x, rope = vit._pos_embed(x)  # Eva applies its patch dropout here as well
    else:
        x, rope = vit.patch_drop(vit._pos_embed(x)), None
    if x.shape[1] != vit.num_prefix_tokens + grid[0] * grid[1]:
        raise UserError(
            f'ViTAdapter needs every patch token of the {grid[0]}x{grid[1]} grid, got '
            f'{x.shape[1] - vit.num_prefix_tokens}: patch dropout is not supported (set the '
            f"ViT's patch_drop_rate to 0).")
    return vit.norm_pre(x), rope


def _run_blocks(vit: nn.Module, x: Tensor, rope: Optional[Tensor], first: int,
                last: int) -> Tensor:
    """Blocks `first..last` of the ViT on (B, N, C) tokens, with the ViT's rotary embedding
    (per block for Eva's 'mixed' rope) and its gradient checkpointing setting."""
    for index in range(first, last + 1):
        block = vit.blocks[index]
        kwargs = {}
        if rope is not None:
            kwargs['rope'] = rope[index] if getattr(vit, 'rope_mixed', False) else rope
        if vit.grad_checkpointing and torch.is_grad_enabled():
            x = checkpoint(block, x, **kwargs)
        else:
            x = block(x, **kwargs)
    return x


def _equal_groups(depth: int) -> List[List[int]]:
    """4 contiguous [first, last] block ranges of (nearly) equal size."""
    if depth < NUM_INTERACTIONS:
        raise UserError(f'ViTAdapter needs a ViT with at least {NUM_INTERACTIONS} blocks, '
                        f'got {depth}.')
    bounds = [round(depth * i / NUM_INTERACTIONS) for i in range(NUM_INTERACTIONS + 1)]
    return [[bounds[i], bounds[i + 1] - 1] for i in range(NUM_INTERACTIONS)]


def _check_indexes(indexes: Optional[Sequence[Sequence[int]]]) -> Optional[List[List[int]]]:
    """Validate the ranges that need no ViT: 4 contiguous, non-empty, from block 0."""
    if indexes is None:
        return None
    indexes = [list(pair) for pair in indexes]
    expected_first = 0
    for pair in indexes:
        if len(pair) != 2 or pair[0] != expected_first or pair[1] < pair[0]:
            indexes = None
            break
        expected_first = pair[1] + 1
    if indexes is None or len(indexes) != NUM_INTERACTIONS:
        raise UserError(
            f'ViTAdapter interaction_indexes must be {NUM_INTERACTIONS} [first, last] block '
            f'ranges that follow each other from block 0, e.g. [[0, 2], [3, 5], [6, 8], '
            f'[9, 11]] for 12 blocks; or None for 4 equal groups.')
    return indexes


def _check_covers(groups: List[List[int]], depth: int) -> None:
    if groups[-1][1] != depth - 1:
        raise UserError(f'ViTAdapter interaction_indexes {groups} must end at the last of the '
                        f"ViT's {depth} blocks ({depth - 1}), so that each block runs once.")


def _out_channels(out_channels: Optional[Union[int, Sequence[int]]], embed_dim: int) -> List[int]:
    if out_channels is None:
        return [embed_dim] * NUM_INTERACTIONS
    if isinstance(out_channels, int):
        return [out_channels] * NUM_INTERACTIONS
    if len(out_channels) != NUM_INTERACTIONS:
        raise UserError(f'ViTAdapter out_channels must be an int or a list of '
                        f'{NUM_INTERACTIONS}, got {out_channels}.')
    return list(out_channels)


def _check_group_norm(norm_cfg: dict, channels: List[int]) -> None:
    """A GroupNorm's group count must divide every width it normalises."""
    groups = norm_cfg.get('num_groups')
    if norm_cfg['type'] == 'GN' and any(ch % groups for ch in channels):
        raise UserError(f'ViTAdapter norm_cfg num_groups={groups} must divide every normalised '
                        f'width {sorted(set(channels))} (conv_inplane and out_channels); '
                        f'set norm_cfg.num_groups to a common divisor.')
