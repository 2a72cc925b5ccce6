"""ViTAdapter: output sizes, how it drives the ViT's blocks (once each, in groups, with
prefix tokens and rotary embeddings), gradients, and config errors."""
import pytest
import timm
import torch

from mmseg.models import build_neck
from mmseg.models.utils.ms_deform_attn import MSDeformAttn
from mmseg.utils.errors import UserError

# timm name, patch size, prefix tokens (class + registers); tiny widths and depths
VITS = {
    'dinov2': ('vit_small_patch14_dinov2', 14, 1),
    'dinov2_reg4': ('vit_small_patch14_reg4_dinov2', 14, 5),
    'dinov3': ('vit_small_patch16_dinov3', 16, 5),  # Eva with rope
    'eva02': ('eva02_tiny_patch14_224', 14, 1),  # Eva with rope
}
# a non-square image whose patch grid is 4 x 6 for each patch size
IMAGE_SIZE = {14: (56, 84), 16: (64, 96)}


def tiny_vit(key, depth=4):
    """A random tiny ViT; layer scale 1 (DINOv2/v3 set 1e-5), so that each block visibly
    changes the tokens."""
    name, patch, _ = VITS[key]
    return timm.create_model(name, pretrained=False, num_classes=0, dynamic_img_size=True,
                             embed_dim=32, depth=depth, num_heads=2, img_size=4 * patch,
                             init_values=1.).eval()


def adapter(key, **kwargs):
    return build_neck(dict(type='ViTAdapter', embed_dim=32, patch_size=VITS[key][1], **kwargs))


def image(key, batch=2):
    return torch.randn(batch, 3, *IMAGE_SIZE[VITS[key][1]])


def record_calls(modules, log, label):
    """Append `label(index)` to `log` whenever modules[index] runs; returns the hook handles."""
    return [m.register_forward_hook(lambda *_, i=i: log.append(label(i)))
            for i, m in enumerate(modules)]


@pytest.mark.parametrize('key', ['dinov2', 'dinov3'])
def test_outputs_strides_4_8_16_32_of_the_patch_grid(key):
    outs = adapter(key)(image(key), tiny_vit(key))
    # grid 4 x 6: (4h, 4w), (2h, 2w), (h, w), (h / 2, w / 2); for p16 exactly H/4 .. H/32
    assert [tuple(out.shape) for out in outs] == [
        (2, 32, 16, 24), (2, 32, 8, 12), (2, 32, 4, 6), (2, 32, 2, 3)]


@pytest.mark.parametrize('kwargs', [
    dict(with_cffn=False), dict(add_vit_feature=False), dict(drop_path_rate=0.5)])
def test_variants_keep_the_output_sizes(kwargs):
    neck = adapter('dinov2', **kwargs).train()
    outs = neck(image('dinov2'), tiny_vit('dinov2'))
    assert [tuple(out.shape[2:]) for out in outs] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert all(torch.isfinite(out).all() for out in outs)


def test_odd_grid_rounds_the_coarsest_level_up():
    vit = tiny_vit('dinov3')
    outs = adapter('dinov3')(torch.randn(1, 3, 48, 80), vit)  # grid 3 x 5
    assert [tuple(out.shape[2:]) for out in outs] == [(12, 20), (6, 10), (3, 5), (2, 3)]


def test_out_channels_project_each_level():
    neck = adapter('dinov2', out_channels=[32, 64, 96, 128])
    assert neck.out_channels == [32, 64, 96, 128]
    outs = neck(image('dinov2', batch=1), tiny_vit('dinov2'))
    assert [out.shape[1] for out in outs] == [32, 64, 96, 128]
    assert adapter('dinov2').out_channels == [32] * 4


def test_is_registered_as_a_neck_that_drives_the_vit():
    assert adapter('dinov2').drives_vit is True


@pytest.mark.parametrize('key', list(VITS))
def test_each_vit_block_runs_exactly_once(key):
    vit, calls = tiny_vit(key), []
    record_calls(vit.blocks, calls, lambda i: i)
    adapter(key)(image(key), vit)
    assert calls == [0, 1, 2, 3]


def test_default_groups_put_a_quarter_of_the_blocks_between_injectors():
    vit, neck, calls = tiny_vit('dinov2', depth=8), adapter('dinov2'), []
    record_calls(vit.blocks, calls, lambda i: f'block{i}')
    record_calls([inter.injector for inter in neck.interactions], calls, lambda i: f'inject{i}')
    neck(image('dinov2', batch=1), vit)
    assert calls == ['inject0', 'block0', 'block1', 'inject1', 'block2', 'block3',
                     'inject2', 'block4', 'block5', 'inject3', 'block6', 'block7']


def test_interaction_indexes_choose_the_groups():
    vit, calls = tiny_vit('dinov2', depth=6), []
    neck = adapter('dinov2', interaction_indexes=[[0, 0], [1, 1], [2, 2], [3, 5]])
    record_calls(vit.blocks, calls, lambda i: f'block{i}')
    record_calls([inter.injector for inter in neck.interactions], calls, lambda i: f'inject{i}')
    neck(image('dinov2', batch=1), vit)
    assert calls == ['inject0', 'block0', 'inject1', 'block1', 'inject2', 'block2',
                     'inject3', 'block3', 'block4', 'block5']


@pytest.mark.parametrize('key', ['dinov2', 'dinov2_reg4', 'dinov3'])
def test_blocks_see_the_prefix_tokens_and_every_patch(key):
    vit, lengths = tiny_vit(key), []
    for block in vit.blocks:
        block.register_forward_hook(lambda _, args, out: lengths.append(
            (args[0].shape[1], out.shape[1])))
    adapter(key)(image(key), vit)
    n_tokens = VITS[key][2] + 4 * 6
    assert lengths == [(n_tokens, n_tokens)] * 4


@pytest.mark.parametrize('key', list(VITS))
def test_with_closed_injector_gates_the_vit_computes_its_own_tokens(key):
    # init_values=0: the injectors add nothing, so the interleaved blocks (with their rotary
    # embedding for Eva) must reproduce the ViT's own forward, prefix tokens included
    vit, x, last = tiny_vit(key), image(key), []
    vit.blocks[-1].register_forward_hook(lambda *args: last.append(args[-1]))
    with torch.no_grad():
        vit.forward_features(x)
        adapter(key, init_values=0.)(x, vit)
    assert torch.allclose(last[1], last[0], atol=1e-6)


def test_open_injector_gates_change_the_vit_tokens():
    vit, x, last = tiny_vit('dinov2'), image('dinov2'), []
    vit.blocks[-1].register_forward_hook(lambda *args: last.append(args[-1]))
    with torch.no_grad():
        vit.forward_features(x)
        adapter('dinov2', init_values=1.)(x, vit)
    assert not torch.allclose(last[1], last[0], atol=1e-3)


@pytest.mark.parametrize('key', ['dinov2_reg4', 'eva02'])
def test_backward_reaches_the_vit_and_every_adapter_parameter(key):
    vit, neck = tiny_vit(key).train(), adapter(key, init_values=1e-6)
    sum(out.square().mean() for out in neck(image(key), vit)).backward()
    for name, param in list(neck.named_parameters()) + list(vit.blocks.named_parameters()):
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        # at init, sampling offsets and weights do not depend on the query (zero weights), so
        # the query norms get their first gradient only after a step
        assert param.grad.abs().sum() > 0 or 'query_norm' in name, name
    assert vit.patch_embed.proj.weight.grad.abs().sum() > 0


def test_gradient_checkpointing_of_the_vit_keeps_the_outputs():
    vit, neck, x = tiny_vit('dinov3'), adapter('dinov3'), image('dinov3')
    plain = neck(x, vit)
    vit.set_grad_checkpointing(True)
    checkpointed = neck(x, vit)
    sum(out.sum() for out in checkpointed).backward()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, checkpointed))


def test_default_heads_follow_the_vit_width():
    def heads(**kwargs):
        neck = build_neck(dict(type='ViTAdapter', patch_size=16, **kwargs))
        return {m.n_heads for m in neck.modules() if isinstance(m, MSDeformAttn)}
    assert heads(embed_dim=384, conv_inplane=32) == {6}  # ViT-S
    assert heads(embed_dim=768, conv_inplane=32) == {12}  # ViT-B
    assert heads(embed_dim=32, deform_num_heads=4) == {4}


def test_attention_starts_as_deformable_detr_and_gates_at_init_values():
    neck = adapter('dinov2', init_values=0.5)
    attn = neck.interactions[0].injector.attn
    assert attn.attention_weights.weight.abs().sum() == 0
    assert attn.sampling_offsets.weight.abs().sum() == 0
    assert all((inter.injector.gamma == 0.5).all() for inter in neck.interactions)


@pytest.mark.parametrize('kwargs, culprit', [
    (dict(interaction_indexes=[[0, 1], [2, 3]]), 'interaction_indexes'),
    (dict(interaction_indexes=[[0, 0], [2, 2], [3, 3], [4, 4]]), 'interaction_indexes'),
    (dict(deform_num_heads=3), 'deform_num_heads'),
    (dict(norm_cfg=dict(type='GN', num_groups=32), conv_inplane=16), 'num_groups'),
])
def test_invalid_config_is_a_user_error(kwargs, culprit):
    with pytest.raises(UserError, match=culprit):
        adapter('dinov2', **kwargs)


def test_groups_that_miss_blocks_of_the_vit_are_a_user_error():
    neck = adapter('dinov2', interaction_indexes=[[0, 0], [1, 1], [2, 2], [3, 3]])
    with pytest.raises(UserError, match='each block runs once'):
        neck(image('dinov2', batch=1), tiny_vit('dinov2', depth=6))
