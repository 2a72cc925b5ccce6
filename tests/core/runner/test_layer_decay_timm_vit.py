"""LayerDecayOptimizerConstructor on a real TimmViT segmentor: every parameter's lr and weight
decay equal the formula computed from its name alone, independently of `TimmViT.layer_id`.

With base lr `lr`, encoder multiplier m, rate d and L blocks: ViT block i gets
lr * m * d ** (L + 1 - (i + 1)); the patch embedding, the class / register tokens, the position
embedding and timm's `norm_pre` get lr * m * d ** (L + 1); the ViT's final norm (`norm`, or
EVA02's `fc_norm`), the pyramid and the decode head get lr. 1-D parameters and tokens get no
weight decay; frozen parameters are not in the optimizer.
"""
import re

import pytest
from mmcv.runner import build_optimizer

from mmseg.models.builder import build_segmentor

from models_helpers import TINY_VIT_DIM, encoder_decoder, tiny_timm_vit

LR, WD, DECAY, ENCODER_MULT, DEPTH = 1e-4, 0.01, 0.9, 0.1, 4
STEM = re.compile(r'^backbone\.vit\.(patch_embed\.|cls_token$|reg_token$|pos_embed$|norm_pre\.)')
BLOCK = re.compile(r'^backbone\.vit\.blocks\.(\d+)\.')
TOKENS = ('cls_token', 'reg_token', 'pos_embed')

# (TimmViT cfg, what it adds to the names): the configs' ViT-Adapter and the plain pyramid;
# DINOv3's register tokens; EVA02's final norm `fc_norm`; a pre-norm ViT's `norm_pre`.
BACKBONES = {
    'dinov2_vit_adapter': tiny_timm_vit(pyramid=dict(type='ViTAdapter',
                                                     out_channels=TINY_VIT_DIM)),
    'dinov2_simple_pyramid': tiny_timm_vit(),
    'dinov3_reg_tokens': tiny_timm_vit('dinov3'),
    'eva02_fc_norm': tiny_timm_vit('eva02'),
    'dinov2_norm_pre': tiny_timm_vit(model_kwargs=dict(pre_norm=True)),
}


def segmentor(backbone):
    return build_segmentor(encoder_decoder(backbone, [TINY_VIT_DIM] * 4))


def optimizer_of(model):
    return build_optimizer(model, dict(
        type='AdamW', lr=LR, weight_decay=WD, constructor='LayerDecayOptimizerConstructor',
        paramwise_cfg=dict(layer_decay_rate=DECAY, encoder_lr_mult=ENCODER_MULT)))


def lr_and_decay(model):
    """{parameter name: (lr, weight decay)} of the optimizer's one-parameter groups."""
    optimizer = optimizer_of(model)
    name_of = {id(p): n for n, p in model.named_parameters()}
    assert all(len(group['params']) == 1 for group in optimizer.param_groups)
    return {name_of[id(g['params'][0])]: (g['lr'], g['weight_decay'])
            for g in optimizer.param_groups}


def expected_lr(name):
    block = BLOCK.match(name)
    if block:
        return LR * ENCODER_MULT * DECAY ** (DEPTH + 1 - (int(block.group(1)) + 1))
    if STEM.match(name):
        return LR * ENCODER_MULT * DECAY ** (DEPTH + 1)
    return LR


def test_the_families_have_the_parameters_the_formula_names():
    names = {key: {n for n, _ in segmentor(cfg).named_parameters()}
             for key, cfg in BACKBONES.items()}
    assert 'backbone.vit.reg_token' in names['dinov3_reg_tokens']
    assert 'backbone.vit.fc_norm.weight' in names['eva02_fc_norm']
    assert 'backbone.vit.norm_pre.weight' in names['dinov2_norm_pre']
    assert 'backbone.vit.norm.weight' in names['dinov2_vit_adapter']
    assert any(n.startswith('backbone.pyramid.interactions.') for n in names['dinov2_vit_adapter'])


@pytest.mark.parametrize('key', sorted(BACKBONES))
def test_every_parameter_gets_the_formula_lr_and_no_decay_if_1d_or_token(key):
    model = segmentor(BACKBONES[key])
    got = lr_and_decay(model)
    assert set(got) == {n for n, _ in model.named_parameters()}
    for name, param in model.named_parameters():
        no_decay = param.ndim == 1 or name.endswith(TOKENS)
        assert got[name] == pytest.approx((expected_lr(name), 0.0 if no_decay else WD)), name


def test_hand_checked_values_of_a_4_block_vit():
    got = lr_and_decay(segmentor(BACKBONES['dinov2_vit_adapter']))
    assert got['backbone.vit.patch_embed.proj.weight'] == pytest.approx((1e-5 * 0.9**5, WD))
    assert got['backbone.vit.pos_embed'] == pytest.approx((1e-5 * 0.9**5, 0.0))
    assert got['backbone.vit.blocks.0.attn.qkv.weight'] == pytest.approx((1e-5 * 0.9**4, WD))
    assert got['backbone.vit.blocks.3.mlp.fc2.weight'] == pytest.approx((1e-5 * 0.9, WD))
    assert got['backbone.vit.norm.weight'] == pytest.approx((1e-4, 0.0))
    assert got['backbone.pyramid.level_embed'] == pytest.approx((1e-4, WD))
    assert got['decode_head.conv_seg.weight'] == pytest.approx((1e-4, WD))


def test_frozen_stem_and_blocks_are_not_in_the_optimizer():
    """freeze=2: the patch embedding, the tokens and blocks 0 and 1."""
    model = segmentor(tiny_timm_vit(pyramid=dict(type='ViTAdapter', out_channels=TINY_VIT_DIM),
                                    freeze=2))
    got = lr_and_decay(model)
    first_two_blocks = re.compile(r'^backbone\.vit\.blocks\.[01]\.')
    frozen = {n for n, _ in model.named_parameters()
              if STEM.match(n) or first_two_blocks.match(n)}
    assert 'backbone.vit.cls_token' in frozen
    assert set(got) == {n for n, _ in model.named_parameters()} - frozen
    assert got['backbone.vit.blocks.2.attn.qkv.weight'] == pytest.approx(
        (1e-5 * 0.9**2, WD))
