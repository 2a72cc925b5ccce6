"""LayerDecayOptimizerConstructor: per-parameter lr and weight decay of a ViT backbone with
layer-wise decay, MIC's custom keys on top, frozen parameters left out.

The backbone is a stand-in with TimmViT's parameter names and its `layer_id` / `num_layers`
interface (0 for the patch embedding and tokens, i + 1 for block i, depth + 1 for the rest).
test_layer_decay_timm_vit.py checks the same formula on real TimmViT segmentors.
"""
import re
import types

import mmcv
import pytest
import torch
from mmcv.runner import build_optimizer
from torch import nn

from mmseg.apis.config_checks import check_override_keys
from mmseg.core.runner.grouped_adamw import merge_equal_groups
from mmseg.core.runner.iter_based_runner import SafeIterBasedRunner
from mmseg.core.runner.layer_decay_optimizer_constructor import layer_decay_lr_mult
from mmseg.utils.errors import UserError

BASE_LR, BASE_WD, DECAY, ENCODER_MULT, DEPTH = 1e-4, 0.01, 0.9, 0.1, 4


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(dim, 3 * dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, dim)


class StandInViT(nn.Module):
    """TimmViT's names: vit.patch_embed.proj, vit.cls_token, vit.reg_token, vit.pos_embed,
    vit.blocks.{i}, vit.norm, pyramid."""

    def __init__(self, depth=DEPTH, dim=8, frozen_blocks=0):
        super().__init__()
        self.vit = nn.Module()
        self.vit.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.vit.reg_token = nn.Parameter(torch.zeros(1, 4, dim))
        self.vit.pos_embed = nn.Parameter(torch.zeros(1, 5, dim))
        self.vit.patch_embed = nn.Module()
        self.vit.patch_embed.proj = nn.Conv2d(3, dim, 2, 2)
        self.vit.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.vit.norm = nn.LayerNorm(dim)
        self.pyramid = nn.Conv2d(dim, dim, 1)
        self.num_layers = depth
        for block in self.vit.blocks[:frozen_blocks]:
            block.requires_grad_(False)

    def layer_id(self, name):
        if name.startswith('vit.blocks.'):
            return int(name.split('.')[2]) + 1
        if name.startswith(('vit.patch_embed', 'vit.cls_token', 'vit.reg_token', 'vit.pos_embed')):
            return 0
        return self.num_layers + 1


class StandInSegmentor(nn.Module):
    def __init__(self, **backbone):
        super().__init__()
        self.backbone = StandInViT(**backbone)
        self.decode_head = nn.Module()
        self.decode_head.bn = nn.BatchNorm2d(8)
        self.decode_head.conv_seg = nn.Conv2d(8, 3, 1)


class StandInUDA(nn.Module):
    """DACS's composition: student, EMA teacher, frozen feature-distance model."""

    def __init__(self):
        super().__init__()
        self.model = StandInSegmentor()
        self.ema_model = StandInSegmentor()
        self.imnet_model = StandInSegmentor()
        self.imnet_model.requires_grad_(False)


def optimizer_cfg(**paramwise):
    return dict(type='AdamW', lr=BASE_LR, betas=(0.9, 0.999), weight_decay=BASE_WD,
                constructor='LayerDecayOptimizerConstructor',
                paramwise_cfg=dict(dict(layer_decay_rate=DECAY, encoder_lr_mult=ENCODER_MULT),
                                   **paramwise))


def per_name(model, optimizer):
    """{parameter name: (lr, weight decay)} of the optimizer's groups (one parameter each)."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    assert all(len(g['params']) == 1 for g in optimizer.param_groups)
    return {name_of[id(g['params'][0])]: (g['lr'], g['weight_decay'])
            for g in optimizer.param_groups}


def formula_lr(name, head_mult=1.0):
    """lr = base * encoder_lr_mult * decay ** (L + 1 - l) for the ViT (l <= L), base otherwise."""
    block = re.match(r'backbone\.vit\.blocks\.(\d+)\.', name)
    if block:
        layer = int(block.group(1)) + 1
    elif name.startswith(('backbone.vit.patch_embed', 'backbone.vit.cls_token',
                          'backbone.vit.reg_token', 'backbone.vit.pos_embed')):
        layer = 0
    else:
        return BASE_LR * (head_mult if 'head' in name else 1.0)
    return BASE_LR * ENCODER_MULT * DECAY ** (DEPTH + 1 - layer)


def test_lr_and_weight_decay_of_every_parameter_follow_the_formula():
    model = StandInSegmentor()
    got = per_name(model, build_optimizer(model, optimizer_cfg()))
    assert set(got) == {n for n, _ in model.named_parameters()}
    for name, param in model.named_parameters():
        no_decay = param.ndim == 1 or name.endswith(('_token', 'pos_embed'))
        assert got[name] == pytest.approx((formula_lr(name), 0.0 if no_decay else BASE_WD)), name


def test_hand_checked_values():
    model = StandInSegmentor()
    got = per_name(model, build_optimizer(model, optimizer_cfg()))
    assert got['backbone.vit.patch_embed.proj.weight'] == pytest.approx((1e-5 * 0.9**5, 0.01))
    assert got['backbone.vit.cls_token'] == pytest.approx((1e-5 * 0.9**5, 0.0))
    assert got['backbone.vit.blocks.0.attn.qkv.weight'] == pytest.approx((1e-5 * 0.9**4, 0.01))
    assert got['backbone.vit.blocks.3.mlp.fc1.weight'] == pytest.approx((1e-5 * 0.9, 0.01))
    assert got['backbone.vit.blocks.3.mlp.fc1.bias'] == pytest.approx((1e-5 * 0.9, 0.0))
    assert got['backbone.vit.norm.weight'] == pytest.approx((1e-4, 0.0))
    assert got['backbone.pyramid.weight'] == pytest.approx((1e-4, 0.01))
    assert got['decode_head.conv_seg.weight'] == pytest.approx((1e-4, 0.01))


def test_mics_custom_keys_apply_on_top():
    model = StandInSegmentor()
    cfg = optimizer_cfg(custom_keys=dict(head=dict(lr_mult=10.0), pos_block=dict(decay_mult=0.0),
                                         norm=dict(decay_mult=0.0), pyramid=dict(decay_mult=0.0)))
    got = per_name(model, build_optimizer(model, cfg))
    assert got['decode_head.conv_seg.weight'] == pytest.approx((1e-3, 0.01))
    assert got['decode_head.bn.weight'] == pytest.approx((1e-3, 0.0))
    assert got['backbone.pyramid.weight'] == pytest.approx((1e-4, 0.0))
    for name, (lr, _) in got.items():
        assert lr == pytest.approx(formula_lr(name, head_mult=10.0)), name


def test_no_weight_decay_on_norms_biases_tokens_and_position_embedding():
    model = StandInSegmentor()
    got = per_name(model, build_optimizer(model, optimizer_cfg()))
    for name in ('backbone.vit.cls_token', 'backbone.vit.reg_token', 'backbone.vit.pos_embed',
                 'backbone.vit.blocks.1.norm1.weight', 'backbone.vit.blocks.1.norm1.bias',
                 'backbone.vit.blocks.1.attn.qkv.bias', 'backbone.vit.norm.bias',
                 'decode_head.bn.weight', 'decode_head.conv_seg.bias'):
        assert got[name][1] == 0.0, name


def test_frozen_parameters_are_left_out():
    model = StandInSegmentor(frozen_blocks=2)
    got = per_name(model, build_optimizer(model, optimizer_cfg()))
    frozen = ('backbone.vit.blocks.0.', 'backbone.vit.blocks.1.')
    assert not [n for n in got if n.startswith(frozen)]
    assert 'backbone.vit.blocks.2.attn.qkv.weight' in got


def test_uda_model_student_and_teacher_decayed_frozen_feature_model_left_out():
    uda = StandInUDA()
    got = per_name(uda, build_optimizer(uda, optimizer_cfg()))
    assert not [n for n in got if n.startswith('imnet_model.')]
    for prefix in ('model.', 'ema_model.'):
        assert got[prefix + 'backbone.vit.blocks.3.mlp.fc1.weight'] == \
            pytest.approx((1e-5 * 0.9, 0.01))
        assert got[prefix + 'decode_head.conv_seg.weight'] == pytest.approx((1e-4, 0.01))


def test_layer_id_past_the_depth_plus_one_is_refused():
    with pytest.raises(ValueError, match='outside'):
        layer_decay_lr_mult(6, 4, 0.9, 0.1)


def test_backbone_without_layer_ids_is_a_user_error():
    with pytest.raises(UserError, match='no backbone with `layer_id`'):
        build_optimizer(nn.Linear(2, 2), optimizer_cfg())


@pytest.mark.parametrize('paramwise, message', [
    (dict(layer_decay_rat=0.9), r"unknown config key 'layer_decay_rat' for "
                                r"LayerDecayOptimizerConstructor \(in optimizer\.paramwise_cfg\)\."
                                r" Did you mean 'layer_decay_rate'\?"),
    (dict(bias_decay_mult=0.0), r"unknown config key 'bias_decay_mult'"),
    (dict(layer_decay_rate=1.5), r'layer_decay_rate must be in \(0, 1\]'),
    (dict(encoder_lr_mult=0), r'encoder_lr_mult must be > 0'),
])
def test_wrong_paramwise_keys_are_user_errors(paramwise, message):
    with pytest.raises(UserError, match=message):
        build_optimizer(StandInSegmentor(), optimizer_cfg(**paramwise))


def test_override_of_a_misspelt_constructor_key_is_refused():
    cfg = mmcv.Config(dict(optimizer=optimizer_cfg()))
    check_override_keys(cfg, {'optimizer.paramwise_cfg.custom_keys': {}})
    with pytest.raises(UserError, match=r"optimizer\.paramwise_cfg\.layer_decay_rat.*Did you "
                                        r"mean 'optimizer\.paramwise_cfg\.layer_decay_rate'"):
        check_override_keys(cfg, {'optimizer.paramwise_cfg.layer_decay_rat': 0.8})


def test_override_of_a_layer_decay_key_without_the_constructor_is_refused():
    """mmcv's default constructor would silently ignore it."""
    cfg = mmcv.Config(dict(optimizer=dict(type='AdamW', lr=1e-4, paramwise_cfg=dict(
        custom_keys=dict(head=dict(lr_mult=10.0))))))
    check_override_keys(cfg, {'optimizer.paramwise_cfg.norm_decay_mult': 0.0})
    with pytest.raises(UserError, match='has no key'):
        check_override_keys(cfg, {'optimizer.paramwise_cfg.layer_decay_rate': 0.9})


def test_grouped_adamw_merges_the_groups_of_equal_values():
    model = StandInSegmentor()
    optimizer = build_optimizer(model, optimizer_cfg())
    distinct = {(g['lr'], g['weight_decay']) for g in optimizer.param_groups}
    assert len(merge_equal_groups(optimizer.param_groups)) == len(distinct)
    for param in model.parameters():
        param.grad = torch.ones_like(param)
    before = model.backbone.vit.blocks[0].attn.qkv.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, model.backbone.vit.blocks[0].attn.qkv.weight)


def test_resume_matches_the_state_by_name_with_frozen_parameters_left_out():
    """The runner's resume (`SafeIterBasedRunner._resume_optimizer`) on a UDA model whose frozen
    feature-distance model is not in the optimizer."""
    torch.manual_seed(0)
    writer = StandInUDA()
    optimizer = build_optimizer(writer, optimizer_cfg())
    for param in writer.parameters():
        if param.requires_grad:
            param.grad = torch.randn_like(param)
    optimizer.step()
    ckpt = dict(state_dict=writer.state_dict(), optimizer=optimizer.state_dict())

    reader = StandInUDA()
    resumed = build_optimizer(reader, optimizer_cfg())
    runner = types.SimpleNamespace(model=reader, optimizer=resumed, logger=None)
    SafeIterBasedRunner._resume_optimizer(runner, ckpt, 'ckpt.pth')
    qkv = 'model.backbone.vit.blocks.2.attn.qkv.weight'
    written, read = dict(writer.named_parameters())[qkv], dict(reader.named_parameters())[qkv]
    assert torch.equal(resumed.state[read]['exp_avg'], optimizer.state[written]['exp_avg'])
    assert per_name(reader, resumed) == per_name(writer, optimizer)
