"""TimmViT: pyramid shapes, the patch-size resize rule, weights in timm's and the official
DINOv2 / DINOv3 layouts, freezing, layer ids and the pyramid contract."""
import pytest
import safetensors.torch
import torch
import torch.nn as nn

from mmseg.models.builder import build_backbone, build_segmentor
from mmseg.utils.errors import UserError

from models_helpers import TINY_VIT_DIM, TINY_VITS, encoder_decoder, tiny_timm_vit


def build(family='dinov2', **kwargs):
    return build_backbone(tiny_timm_vit(family, **kwargs))


def random_weights(backbone):
    """A random state dict of the backbone's ViT, in timm's layout."""
    return {k: torch.randn_like(v) for k, v in backbone.vit.state_dict().items()}


def dinov2_official(timm_weights):
    """The facebookresearch/dinov2 layout of timm weights: the inverse of timm's
    `vision_transformer._convert_dinov2` (a `mask_token`; with registers: `register_tokens`, a
    class token without its position and `pos_embed` holding the class position)."""
    weights = dict(timm_weights)
    weights['mask_token'] = torch.randn(1, weights['cls_token'].shape[-1])
    if 'reg_token' in weights:
        cls_pos = torch.randn_like(weights['cls_token'])
        weights['register_tokens'] = weights.pop('reg_token')
        weights['cls_token'] = weights['cls_token'] - cls_pos
        weights['pos_embed'] = torch.cat([cls_pos, weights['pos_embed']], dim=1)
    return weights


def dinov3_official(timm_weights):
    """The facebookresearch/dinov3 layout of timm weights: the inverse of timm's
    `eva.checkpoint_filter_fn` for DINOv3 (`storage_tokens`, `ls1/ls2.gamma`, a fused
    `qkv.bias` with a zero k part and its `bias_mask`, `mask_token`, `rope_embed.periods`)."""
    weights = {}
    for key, value in timm_weights.items():
        if key.endswith('attn.v_bias'):
            continue
        if key.endswith('attn.q_bias'):
            v_bias = timm_weights[key.replace('q_bias', 'v_bias')]
            weights[key.replace('q_bias', 'qkv.bias')] = torch.cat(
                [value, torch.zeros_like(value), v_bias])
            continue
        key = key.replace('reg_token', 'storage_tokens')
        weights[key.replace('gamma_1', 'ls1.gamma').replace('gamma_2', 'ls2.gamma')] = value
    for key in [k for k in weights if k.endswith('attn.qkv.weight')]:
        dim = weights[key].shape[1]
        weights.setdefault(key.replace('weight', 'bias'), torch.zeros(3 * dim))
        weights[key.replace('weight', 'bias_mask')] = torch.ones(3 * dim)
    weights['mask_token'] = torch.randn(1, TINY_VIT_DIM)
    weights['rope_embed.periods'] = torch.rand(4)
    return weights


def assert_vit_weights_equal(backbone, weights):
    loaded = backbone.vit.state_dict()
    assert set(loaded) == set(weights)
    for key, value in weights.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=1e-6, msg=key)


def one_line_user_error(func, *args):
    with pytest.raises(UserError) as err:
        func(*args)
    assert '\n' not in str(err.value)
    return str(err.value)


# Shapes and the resize rule -------------------------------------------------------------------

@pytest.mark.parametrize('family', ['dinov2', 'dinov3', 'eva02'])
@pytest.mark.parametrize('size, expected', [
    ((64, 64), [(16, 16), (8, 8), (4, 4), (2, 2)]),
    ((96, 128), [(24, 32), (12, 16), (6, 8), (3, 4)]),
    ((100, 75), [(25, 19), (13, 10), (7, 5), (4, 3)]),  # not a multiple of 14 or 16
])
def test_outputs_are_ceil_of_input_over_strides_4_8_16_32(family, size, expected):
    outs = build(family).eval()(torch.randn(2, 3, *size))
    assert [tuple(out.shape) for out in outs] == [(2, TINY_VIT_DIM, h, w) for h, w in expected]


@pytest.mark.parametrize('family, size, vit_size', [
    ('dinov2', (64, 64), (70, 70)),     # 64 / 14 = 4.57 -> 5 patches
    ('dinov2', (512, 512), (518, 518)),  # HRDA's crops with a DINOv2 / EVA02 ViT
    ('eva02', (96, 128), (98, 126)),
    ('dinov3', (64, 64), (64, 64)),     # a multiple of 16: not resized
    ('dinov3', (100, 75), (96, 80)),
])
def test_input_is_resized_to_nearest_multiple_of_patch_size(family, size, vit_size):
    backbone = build(family).eval()
    seen = []
    backbone.vit.patch_embed.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    image = torch.randn(1, 3, *size)
    outs = backbone(image)
    assert tuple(seen[0].shape[-2:]) == vit_size
    if vit_size == size:
        assert torch.equal(seen[0], image)
    assert tuple(outs[0].shape[-2:]) == ((size[0] + 3) // 4, (size[1] + 3) // 4)


def test_pyramid_receives_final_normed_outputs_of_out_indices_blocks():
    backbone = build_backbone(tiny_timm_vit(model_kwargs=dict(depth=6),
                                            out_indices=(0, 2, 3, 5))).eval()
    blocks, received = [], []
    for block in backbone.vit.blocks:
        block.register_forward_hook(lambda m, args, out: blocks.append(out))
    backbone.pyramid.register_forward_pre_hook(lambda m, args: received.extend(args[0]))
    backbone(torch.randn(1, 3, 56, 42))  # 4 x 3 patches, 1 class token first
    assert len(received) == 4
    for index, feat in zip((0, 2, 3, 5), received):
        tokens = backbone.vit.norm(blocks[index])[:, 1:]
        assert torch.allclose(feat, tokens.transpose(1, 2).reshape(1, TINY_VIT_DIM, 4, 3))


def test_default_out_indices_are_evenly_spaced_and_end_at_the_last_block():
    assert build().out_indices == [0, 1, 2, 3]
    deep = build_backbone(tiny_timm_vit(model_kwargs=dict(embed_dim=8, depth=24, num_heads=1)))
    assert deep.out_indices == [5, 11, 17, 23]


@pytest.mark.parametrize('out_indices', [(0, 1, 2), (0, 2, 1, 3), (1, 2, 3, 4)])
def test_out_indices_must_be_4_increasing_block_indices(out_indices):
    assert 'out_indices' in one_line_user_error(lambda: build(out_indices=out_indices))


def test_unknown_model_name_names_close_timm_models():
    message = one_line_user_error(
        build_backbone, dict(type='TimmViT', model_name='vit_large_patch14_dinov'))
    assert "'vit_large_patch14_dinov'" in message and 'vit_large_patch14_dinov2' in message


def test_model_kwargs_cannot_override_what_timm_vit_sets():
    message = one_line_user_error(
        build_backbone, tiny_timm_vit(model_kwargs=dict(depth=2, drop_path_rate=0.1)))
    assert 'drop_path_rate' in message


def test_drop_path_rate_and_grad_checkpointing_reach_the_vit():
    backbone = build(drop_path_rate=0.3, grad_checkpointing=True)
    assert backbone.vit.grad_checkpointing
    assert backbone.vit.blocks[-1].drop_path1.drop_prob == pytest.approx(0.3)
    sum(out.sum() for out in backbone(torch.randn(1, 3, 28, 28))).backward()
    assert backbone.vit.blocks[0].attn.qkv.weight.grad is not None


# Pyramid contract ----------------------------------------------------------------------------

def test_out_channels_come_from_the_pyramid():
    assert build().out_channels == [TINY_VIT_DIM] * 4
    backbone = build(pyramid=dict(type='SimpleFeaturePyramid', out_channels=[8, 16, 24, 40])).eval()
    assert backbone.out_channels == [8, 16, 24, 40]
    assert [out.shape[1] for out in backbone(torch.randn(1, 3, 32, 32))] == [8, 16, 24, 40]


def test_pyramid_cannot_set_embed_dim_or_patch_size():
    assert 'embed_dim' in one_line_user_error(
        lambda: build(pyramid=dict(type='SimpleFeaturePyramid', embed_dim=8)))


class FakeAdapter(nn.Module):
    """A pyramid that drives the ViT: records its call, returns maps at strides p/4 .. 2p."""
    drives_vit = True
    out_channels = [3] * 4

    def forward(self, image, vit):
        self.call = (tuple(image.shape), vit)
        h, w = image.shape[-2] // 14, image.shape[-1] // 14
        return [torch.zeros(1, 3, h * 4, w * 4), torch.zeros(1, 3, h * 2, w * 2),
                torch.zeros(1, 3, h, w), torch.zeros(1, 3, h // 2, w // 2)]


def test_pyramid_that_drives_the_vit_gets_the_resized_image_and_the_vit():
    backbone = build().eval()
    backbone.pyramid = FakeAdapter()
    outs = backbone(torch.randn(1, 3, 64, 100))
    assert backbone.pyramid.call == ((1, 3, 70, 98), backbone.vit)
    assert [tuple(out.shape[-2:]) for out in outs] == [(16, 25), (8, 13), (4, 7), (2, 4)]


# The ViT-Adapter on a tiny ViT: 32 channels, 8 GroupNorm groups (the default 32 needs wider maps)
TINY_ADAPTER = dict(type='ViTAdapter', conv_inplane=16, deform_num_heads=2, n_points=2,
                    norm_cfg=dict(type='GN', num_groups=8, requires_grad=True))


@pytest.mark.parametrize('family', ['dinov2', 'dinov3'])
@pytest.mark.parametrize('size', [64, 128])  # HRDA's detail crop and LR image in tiny_hrda.py
def test_with_the_vit_adapter_outputs_are_ceil_of_input_over_strides_4_8_16_32(family, size):
    backbone = build(family, pyramid=TINY_ADAPTER).eval()
    outs = backbone(torch.randn(2, 3, size, size))
    assert backbone.out_channels == [TINY_VIT_DIM] * 4
    assert [tuple(out.shape) for out in outs] == [
        (2, TINY_VIT_DIM, size // s, size // s) for s in (4, 8, 16, 32)]


# Freezing and layer ids ------------------------------------------------------------------------

def test_freeze_all_freezes_the_vit_not_the_pyramid_and_keeps_it_in_eval_mode():
    backbone = build(freeze='all').train()
    assert not any(p.requires_grad for p in backbone.vit.parameters())
    assert all(p.requires_grad for p in backbone.pyramid.parameters())
    assert not any(m.training for m in backbone.vit.modules())
    assert backbone.pyramid.training


def test_freeze_k_freezes_patch_embedding_tokens_and_first_k_blocks():
    backbone = build('dinov3', freeze=2).train()
    frozen = {n for n, p in backbone.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in backbone.named_parameters()
                      if n.startswith(('vit.patch_embed.', 'vit.cls_token', 'vit.reg_token',
                                       'vit.blocks.0.', 'vit.blocks.1.'))}
    assert [block.training for block in backbone.vit.blocks] == [False, False, True, True]
    assert not backbone.vit.patch_embed.training and backbone.vit.norm.training


def test_freeze_none_trains_everything():
    backbone = build().train()
    assert all(p.requires_grad for p in backbone.parameters())
    assert all(m.training for m in backbone.modules())


@pytest.mark.parametrize('freeze', ['some', 5, -1, True])
def test_freeze_must_be_none_all_or_a_number_of_blocks(freeze):
    assert 'freeze' in one_line_user_error(lambda: build(freeze=freeze))


def test_layer_id_numbers_stem_blocks_and_the_rest():
    backbone = build('dinov3')
    assert backbone.num_layers == 4
    assert {name: backbone.layer_id(name) for name in [
        'backbone.vit.patch_embed.proj.weight', 'backbone.vit.cls_token',
        'backbone.vit.reg_token', 'vit.pos_embed', 'backbone.vit.blocks.0.attn.qkv.weight',
        'backbone.vit.blocks.3.mlp.fc2.bias', 'backbone.vit.norm.weight',
        'backbone.pyramid.levels.0.0.weight']} == {
        'backbone.vit.patch_embed.proj.weight': 0, 'backbone.vit.cls_token': 0,
        'backbone.vit.reg_token': 0, 'vit.pos_embed': 0,
        'backbone.vit.blocks.0.attn.qkv.weight': 1, 'backbone.vit.blocks.3.mlp.fc2.bias': 4,
        'backbone.vit.norm.weight': 5, 'backbone.pyramid.levels.0.0.weight': 5}
    assert {backbone.layer_id(n) for n, _ in backbone.named_parameters()} == set(range(6))


# Weights --------------------------------------------------------------------------------------

@pytest.mark.parametrize('family', ['dinov2', 'dinov3', 'eva02'])
def test_timm_state_dict_with_classifier_loads_strictly(family, tmp_path):
    weights = random_weights(build(family))
    path = str(tmp_path / 'vit.pth')
    torch.save(dict(state_dict=dict(weights, **{'head.weight': torch.randn(10, TINY_VIT_DIM),
                                                'head.bias': torch.randn(10)})), path)
    backbone = build(family)
    backbone.load_pretrained(path)
    assert_vit_weights_equal(backbone, weights)


def test_timm_safetensors_file_loads(tmp_path):
    weights = random_weights(build('eva02'))
    path = str(tmp_path / 'model.safetensors')
    safetensors.torch.save_file(weights, path)
    backbone = build('eva02')
    backbone.load_pretrained(path)
    assert_vit_weights_equal(backbone, weights)


@pytest.mark.parametrize('model_name', ['vit_small_patch14_dinov2',
                                        'vit_small_patch14_reg4_dinov2'])
def test_official_dinov2_checkpoint_loads(model_name, tmp_path):
    cfg = dict(type='TimmViT', model_name=model_name,
               model_kwargs=dict(embed_dim=TINY_VIT_DIM, depth=4, num_heads=2, img_size=56))
    weights = random_weights(build_backbone(cfg))
    path = str(tmp_path / 'dinov2_vits14_pretrain.pth')
    torch.save(dinov2_official(weights), path)
    backbone = build_backbone(cfg)
    backbone.load_pretrained(path)
    assert_vit_weights_equal(backbone, weights)


def test_official_dinov2_pos_embed_of_518_px_is_resampled_to_the_model_grid(tmp_path):
    official = build_backbone(tiny_timm_vit(model_kwargs=dict(img_size=518)))  # 37 x 37
    weights = random_weights(official)
    assert weights['pos_embed'].shape == (1, 1 + 37 * 37, TINY_VIT_DIM)
    path = str(tmp_path / 'dinov2_vits14_pretrain.pth')
    torch.save(dinov2_official(weights), path)
    backbone = build()  # 56 px, 4 x 4
    backbone.load_pretrained(path)
    loaded = backbone.vit.state_dict()
    assert loaded['pos_embed'].shape == (1, 1 + 4 * 4, TINY_VIT_DIM)
    assert torch.equal(loaded['blocks.2.attn.qkv.weight'], weights['blocks.2.attn.qkv.weight'])


@pytest.mark.parametrize('model_name', ['vit_small_patch16_dinov3',
                                        'vit_small_patch16_dinov3_qkvb'])
def test_official_dinov3_checkpoint_loads(model_name, tmp_path):
    cfg = dict(type='TimmViT', model_name=model_name,
               model_kwargs=dict(embed_dim=TINY_VIT_DIM, depth=4, num_heads=2))
    weights = random_weights(build_backbone(cfg))
    path = str(tmp_path / 'dinov3_vits16_pretrain.pth')
    torch.save(dinov3_official(weights), path)
    backbone = build_backbone(cfg)
    backbone.load_pretrained(path)
    assert_vit_weights_equal(backbone, weights)


def test_segmentor_pretrained_loads_into_the_vit(tmp_path):
    weights = random_weights(build())
    path = str(tmp_path / 'vit.pth')
    torch.save(weights, path)
    cfg = encoder_decoder(tiny_timm_vit(), in_channels=[TINY_VIT_DIM] * 4)
    cfg['pretrained'] = path
    model = build_segmentor(cfg)
    model.init_weights()
    assert_vit_weights_equal(model.backbone, weights)


def test_missing_file_names_the_path_the_folder_and_random_init():
    message = one_line_user_error(build().load_pretrained, 'pretrained/nothing_here.pth')
    assert 'pretrained/nothing_here.pth' in message and 'pretrained=None' in message


@pytest.mark.parametrize('wrong', ['dinov3', 'eva02', 'truncated', 'wider'])
def test_wrong_weights_raise_one_user_error_naming_the_file(wrong, tmp_path):
    if wrong == 'truncated':
        weights = random_weights(build())
        del weights['blocks.3.mlp.fc2.weight']
    elif wrong == 'wider':
        weights = random_weights(build_backbone(tiny_timm_vit(model_kwargs=dict(embed_dim=48))))
    else:
        weights = random_weights(build(wrong))
    path = str(tmp_path / f'{wrong}.pth')
    torch.save(weights, path)
    backbone = build()
    before = random_weights(backbone)
    backbone.vit.load_state_dict(before)
    message = one_line_user_error(backbone.load_pretrained, path)
    name = TINY_VITS['dinov2'][0]
    assert message.startswith(path) and f'is it the weights of {name}?' in message
    assert_vit_weights_equal(backbone, before)  # nothing loaded


def test_file_that_is_not_a_checkpoint_raises_one_user_error(tmp_path):
    path = tmp_path / 'vit.pth'
    path.write_bytes(b'not a checkpoint')
    assert str(path) in one_line_user_error(build().load_pretrained, str(path))
