"""MiT backbones: architecture, SegFormer keys, attention maths, init and pretrained loading."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseg.models.backbones.mix_transformer import Attention
from mmseg.models.builder import build_backbone
from mmseg.utils.errors import UserError

# The published MiT table (SegFormer paper and its `mit_b*` classes): embed dims and depths.
PUBLISHED = {
    'mit_b0': ([32, 64, 160, 256], [2, 2, 2, 2]),
    'mit_b1': ([64, 128, 320, 512], [2, 2, 2, 2]),
    'mit_b2': ([64, 128, 320, 512], [3, 4, 6, 3]),
    'mit_b3': ([64, 128, 320, 512], [3, 4, 18, 3]),
    'mit_b4': ([64, 128, 320, 512], [3, 8, 27, 3]),
    'mit_b5': ([64, 128, 320, 512], [3, 6, 40, 3]),
}
SR_RATIOS = [8, 4, 2, 1]
MLP_RATIO = 4


def segformer_key_shapes(name):
    """Key -> shape of SegFormer's mit_b*.pth backbone, written from the architecture table."""
    dims, depths = PUBLISHED[name]
    shapes, in_ch = {}, 3
    for s, (d, depth, sr) in enumerate(zip(dims, depths, SR_RATIOS), start=1):
        k, hid = (7 if s == 1 else 3), MLP_RATIO * d
        shapes.update({f'patch_embed{s}.proj.weight': (d, in_ch, k, k),
                       f'patch_embed{s}.proj.bias': (d, ), f'patch_embed{s}.norm.weight': (d, ),
                       f'patch_embed{s}.norm.bias': (d, )})
        for j in range(depth):
            b = f'block{s}.{j}'
            shapes.update({
                f'{b}.norm1.weight': (d, ), f'{b}.norm1.bias': (d, ),
                f'{b}.attn.q.weight': (d, d), f'{b}.attn.q.bias': (d, ),
                f'{b}.attn.kv.weight': (2 * d, d), f'{b}.attn.kv.bias': (2 * d, ),
                f'{b}.attn.proj.weight': (d, d), f'{b}.attn.proj.bias': (d, ),
                f'{b}.norm2.weight': (d, ), f'{b}.norm2.bias': (d, ),
                f'{b}.mlp.fc1.weight': (hid, d), f'{b}.mlp.fc1.bias': (hid, ),
                f'{b}.mlp.dwconv.dwconv.weight': (hid, 1, 3, 3),
                f'{b}.mlp.dwconv.dwconv.bias': (hid, ),
                f'{b}.mlp.fc2.weight': (d, hid), f'{b}.mlp.fc2.bias': (d, )})
            if sr > 1:
                shapes.update({f'{b}.attn.sr.weight': (d, d, sr, sr), f'{b}.attn.sr.bias': (d, ),
                               f'{b}.attn.norm.weight': (d, ), f'{b}.attn.norm.bias': (d, )})
        shapes.update({f'norm{s}.weight': (d, ), f'norm{s}.bias': (d, )})
        in_ch = d
    return shapes


@pytest.fixture(scope='module')
def mit_b5():
    return build_backbone(dict(type='mit_b5', style='pytorch')).eval()


def _save_segformer_checkpoint(model, path):
    """A file laid out like SegFormer's ImageNet checkpoint: raw dict + classifier `head.*`."""
    state = dict(model.state_dict())
    state['head.weight'] = torch.randn(1000, model.embed_dims[-1])
    state['head.bias'] = torch.randn(1000)
    torch.save(state, path)


@pytest.mark.parametrize('name', ['mit_b0', 'mit_b1', 'mit_b2', 'mit_b3', 'mit_b4'])
def test_outputs_have_strides_4_8_16_32_and_embed_dims_channels(name):
    model = build_backbone(dict(type=name)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    dims = PUBLISHED[name][0]
    assert [tuple(o.shape) for o in outs] == [(1, dims[i], 64 // 2**(i + 2), 96 // 2**(i + 2))
                                              for i in range(4)]


def test_mit_b5_outputs_have_strides_4_8_16_32(mit_b5):
    with torch.no_grad():
        outs = mit_b5(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 320, 4, 4),
                                              (1, 512, 2, 2)]


def test_mit_b5_state_dict_equals_segformer_keys_and_parameter_count(mit_b5):
    expected = segformer_key_shapes('mit_b5')
    assert {k: tuple(v.shape) for k, v in mit_b5.state_dict().items()} == expected
    assert sum(math.prod(s) for s in expected.values()) == 81_443_008
    assert sum(p.numel() for p in mit_b5.parameters()) == 81_443_008


def test_mit_b0_state_dict_equals_segformer_keys_and_parameter_count():
    model = build_backbone(dict(type='mit_b0'))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == \
        segformer_key_shapes('mit_b0')
    assert sum(p.numel() for p in model.parameters()) == 3_319_392


def test_layer_norm_eps_is_1e5_in_patch_embed_and_attention_else_1e6():
    model = build_backbone(dict(type='mit_b0'))
    eps = {name: m.eps for name, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    for name, value in eps.items():
        expected = 1e-5 if ('patch_embed' in name or name.endswith('attn.norm')) else 1e-6
        assert value == expected, name
    assert 'block1.0.attn.norm' in eps and 'block4.0.attn.norm' not in eps


def test_drop_path_rates_follow_one_global_linspace_with_identity_for_zero():
    model = build_backbone(dict(type='mit_b2'))
    blocks = [b for s in range(1, 5) for b in getattr(model, f'block{s}')]
    assert len(blocks) == 16
    assert isinstance(blocks[0].drop_path, nn.Identity)
    for i, block in enumerate(blocks[1:], start=1):
        assert block.drop_path.drop_prob == pytest.approx(0.1 * i / 15)


@pytest.mark.parametrize('sr_ratio', [1, 2])
def test_sdpa_attention_equals_explicit_softmax_attention(sr_ratio):
    dim, heads, h, w = 64, 2, 6, 4
    attn = Attention(dim, heads, qkv_bias=True, sr_ratio=sr_ratio).eval()
    x = torch.randn(2, h * w, dim)
    # softmax(q k^T / sqrt(head_dim)) v, written out with the module's weights.
    q = F.linear(x, attn.q.weight, attn.q.bias)
    kv_in = x
    if sr_ratio > 1:
        grid = x.transpose(1, 2).reshape(2, dim, h, w)
        kv_in = F.conv2d(grid, attn.sr.weight, attn.sr.bias, stride=sr_ratio)
        kv_in = F.layer_norm(kv_in.flatten(2).transpose(1, 2), (dim, ), attn.norm.weight,
                             attn.norm.bias, eps=1e-5)
    kv = F.linear(kv_in, attn.kv.weight, attn.kv.bias)
    k, v = kv[..., :dim], kv[..., dim:]
    hd = dim // heads
    out = torch.zeros_like(q)
    for head in range(heads):
        sl = slice(head * hd, (head + 1) * hd)
        weights = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(hd), dim=-1)
        out[..., sl] = weights @ v[..., sl]
    expected = F.linear(out, attn.proj.weight, attn.proj.bias)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, h, w), expected, atol=1e-5, rtol=1e-5)


def test_own_init_without_pretrained():
    model = build_backbone(dict(type='mit_b0'))
    model.init_weights()
    fc1 = model.block1[0].mlp.fc1
    assert fc1.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.all(fc1.bias == 0)
    assert torch.all(model.norm1.weight == 1) and torch.all(model.norm1.bias == 0)
    conv = model.block1[0].mlp.dwconv.dwconv  # fan_out = 3 * 3 * 128 / 128 = 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.1)
    assert torch.all(conv.bias == 0)


def test_init_cfg_and_pretrained_cannot_both_be_set():
    with pytest.raises(AssertionError):
        build_backbone(dict(type='mit_b0', pretrained='x.pth',
                            init_cfg=dict(type='Pretrained', checkpoint='x.pth')))


def test_segformer_checkpoint_round_trips(tmp_path):
    source = build_backbone(dict(type='mit_b0'))
    source.init_weights()
    path = str(tmp_path / 'mit_b0.pth')
    _save_segformer_checkpoint(source, path)
    loaded = build_backbone(dict(type='mit_b0', pretrained=path))
    loaded.init_weights()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(source.eval()(img), loaded.eval()(img)):
            assert torch.equal(a, b)


@pytest.mark.slow
def test_mit_b5_segformer_checkpoint_round_trips(tmp_path, mit_b5):
    path = str(tmp_path / 'mit_b5.pth')
    _save_segformer_checkpoint(mit_b5, path)
    loaded = build_backbone(dict(type='mit_b5', pretrained=path))
    loaded.init_weights()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(mit_b5(img)[-1], loaded.eval()(img)[-1])


def test_pretrained_of_another_variant_fails_with_one_error_listing_keys(tmp_path):
    path = str(tmp_path / 'mit_b1.pth')
    _save_segformer_checkpoint(build_backbone(dict(type='mit_b1')), path)
    model = build_backbone(dict(type='mit_b2', pretrained=path))
    with pytest.raises(UserError) as err:
        model.init_weights()
    message = str(err.value)
    assert path in message and 'missing keys' in message and 'block1.2.attn.q.weight' in message


def test_pretrained_with_extra_keys_fails_naming_them(tmp_path):
    path = str(tmp_path / 'mit_b0.pth')
    state = build_backbone(dict(type='mit_b0')).state_dict()
    state['decoder.weight'] = torch.zeros(1)
    torch.save({'state_dict': state}, path)
    with pytest.raises(UserError, match='unexpected keys.*decoder.weight'):
        build_backbone(dict(type='mit_b0', pretrained=path)).init_weights()


def test_missing_pretrained_file_names_path_and_fix(tmp_path):
    path = str(tmp_path / 'pretrained' / 'mit_b5.pth')
    with pytest.raises(UserError) as err:
        build_backbone(dict(type='mit_b0', pretrained=path)).init_weights()
    message = str(err.value)
    assert path in message and 'mit_b5.pth' in message and 'pretrained/' in message
    assert 'model.pretrained=None' in message
