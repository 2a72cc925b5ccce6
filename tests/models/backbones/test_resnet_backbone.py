"""ResNet backbones: mmseg 0.x's key layout and sizes, DeepLab's output stride 8, pretrained
sources (open-mmlab layout, torchvision's weights)."""
import pytest
import torch
import torchvision

from mmseg.models import build_backbone
from mmseg.utils.errors import UserError

from models_helpers import DEEPLAB, NARROW, key_shape_digest

# Parameter count, state-dict entries and key/shape digest of MIC's own backbones, measured by
# building MIC's seg/mmseg (mmseg 0.16 ResNet) on this stack in a temporary folder outside the
# repository with the DEEPLAB arguments and applying `key_shape_digest` to its state dict.
MIC_BACKBONES = {
    ('ResNetV1c', 50): (23_527_264, 330, '92148e6d66c4504a'),
    ('ResNetV1c', 101): (42_519_392, 636, '1f6ea1a1ef8c9279'),
    ('ResNet', 101): (42_500_160, 624, 'ad5a4ae4ffc1d9cd'),
    ('ResNetV1d', 101): (42_519_392, 636, 'dde3845cfbe57d3a'),
}


@pytest.mark.parametrize('variant,depth', list(MIC_BACKBONES))
def test_parameter_count_and_keys_equal_mics_resnet(variant, depth):
    model = build_backbone(dict(type=variant, depth=depth, **DEEPLAB))
    state_dict = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters())
    assert (n_params, len(state_dict), key_shape_digest(state_dict)) == \
        MIC_BACKBONES[(variant, depth)]


def test_v1c_keys_follow_the_open_mmlab_layout():
    keys = list(build_backbone(dict(type='ResNetV1c', depth=50, **DEEPLAB)).state_dict())
    assert keys[:7] == ['stem.0.weight', 'stem.1.weight', 'stem.1.bias', 'stem.1.running_mean',
                        'stem.1.running_var', 'stem.1.num_batches_tracked', 'stem.3.weight']
    for key in ['stem.4.weight', 'stem.6.weight', 'stem.7.running_var', 'layer1.0.conv1.weight',
                'layer1.0.bn1.weight', 'layer1.0.bn3.running_mean', 'layer1.0.downsample.0.weight',
                'layer1.0.downsample.1.weight', 'layer4.2.conv3.weight']:
        assert key in keys
    assert not any(k.startswith(('conv1.', 'bn1.', 'fc.')) for k in keys)


def test_deeplab_strides_give_output_stride_8_with_contracted_dilations():
    model = build_backbone(dict(type='ResNetV1c', depth=50, **DEEPLAB, **NARROW))
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 16, 16), (1, 32, 8, 8), (1, 64, 8, 8),
                                              (1, 128, 8, 8)]
    # contract_dilation: the first block of a dilated stage uses half its dilation.
    assert [b.conv2.dilation[0] for b in model.layer3][:2] == [1, 2]
    assert [b.conv2.dilation[0] for b in model.layer4] == [2, 4, 4]
    assert model.layer4[0].conv2.stride == (1, 1)


def test_default_strides_give_output_strides_4_to_32():
    model = build_backbone(dict(type='ResNetV1c', depth=50, **NARROW))
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]


def test_random_init_zeroes_the_last_norm_of_each_block():
    model = build_backbone(dict(type='ResNetV1c', depth=50, **NARROW))
    model.init_weights()
    assert torch.all(model.layer2[1].bn3.weight == 0)
    assert torch.all(model.layer2[1].bn2.weight == 1)
    assert torch.all(model.stem[1].weight == 1)


def test_norm_eval_keeps_batchnorm_statistics_frozen_in_train_mode():
    model = build_backbone(dict(type='ResNetV1c', depth=50, norm_eval=True, **NARROW))
    model.train()
    assert not model.layer1[0].bn1.training
    assert model.layer1[0].conv1.training


def open_mmlab_v1c_state_dict(depth, stem_channels, base_channels):
    """A random ResNet V1c state dict written from open-mmlab's documented key layout.

    Deep stem `stem.{0,3,6}` convs with BN `stem.{1,4,7}`, then per stage `layer{s}.{b}` with
    `conv1..3` / `bn1..3` and a `downsample.0` conv + `downsample.1` BN in block 0.
    """
    blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    sd = {}

    def bn(prefix, c):
        sd.update({f'{prefix}.weight': torch.rand(c), f'{prefix}.bias': torch.randn(c),
                   f'{prefix}.running_mean': torch.randn(c),
                   f'{prefix}.running_var': torch.rand(c) + 0.5,
                   f'{prefix}.num_batches_tracked': torch.tensor(7)})

    half = stem_channels // 2
    for i, (cin, cout) in zip((0, 3, 6), [(3, half), (half, half), (half, stem_channels)]):
        sd[f'stem.{i}.weight'] = torch.randn(cout, cin, 3, 3)
        bn(f'stem.{i + 1}', cout)
    inplanes = stem_channels
    for s, n in enumerate(blocks):
        planes = base_channels * 2**s
        for b in range(n):
            p = f'layer{s + 1}.{b}'
            sd[f'{p}.conv1.weight'] = torch.randn(planes, inplanes, 1, 1)
            bn(f'{p}.bn1', planes)
            sd[f'{p}.conv2.weight'] = torch.randn(planes, planes, 3, 3)
            bn(f'{p}.bn2', planes)
            sd[f'{p}.conv3.weight'] = torch.randn(planes * 4, planes, 1, 1)
            bn(f'{p}.bn3', planes * 4)
            if b == 0:
                sd[f'{p}.downsample.0.weight'] = torch.randn(planes * 4, inplanes, 1, 1)
                bn(f'{p}.downsample.1', planes * 4)
            inplanes = planes * 4
    return sd


def test_open_mmlab_layout_checkpoint_loads_every_key(tmp_path):
    sd = open_mmlab_v1c_state_dict(50, **NARROW)
    path = tmp_path / 'resnet50_v1c.pth'
    torch.save(dict(state_dict=sd, meta=dict(note='open-mmlab layout')), path)
    model = build_backbone(dict(type='ResNetV1c', depth=50, pretrained=str(path), **DEEPLAB,
                                **NARROW))
    model.init_weights()
    own = model.state_dict()
    assert set(own) == set(sd)
    assert all(torch.equal(own[k], v) for k, v in sd.items())


def test_open_mmlab_name_is_read_from_the_torch_hub_cache(tmp_path, monkeypatch):
    # mmcv's zoo table maps resnet101_v1c to .../resnet101_v1c-e67eebb6.pth; a file of that
    # name in $TORCH_HOME/hub/checkpoints is used without any download.
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    cache = tmp_path / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    sd = open_mmlab_v1c_state_dict(101, **NARROW)
    torch.save(sd, cache / 'resnet101_v1c-e67eebb6.pth')
    model = build_backbone(dict(type='ResNetV1c', depth=101,
                                pretrained='open-mmlab://resnet101_v1c', **NARROW))
    model.init_weights()
    assert torch.equal(model.layer3[22].conv2.weight, sd['layer3.22.conv2.weight'])


def test_unknown_open_mmlab_name_is_a_user_error():
    model = build_backbone(dict(type='ResNetV1c', depth=50, pretrained='open-mmlab://resnet7',
                                **NARROW))
    with pytest.raises(UserError, match='unknown pretrained name open-mmlab://resnet7'):
        model.init_weights()


def test_torchvision_weights_load_into_plain_resnet_and_give_its_features(tmp_path):
    # torchvision's ResNet is V1b with style 'pytorch' (stride on the 3x3 conv): its keys are
    # exactly mmseg's plain ResNet keys plus the classifier `fc.*`, which is dropped.
    tv = torchvision.models.resnet50(weights=None)
    path = tmp_path / 'resnet50-torchvision.pth'
    torch.save(tv.state_dict(), path)
    ours = build_backbone(dict(type='ResNet', depth=50, pretrained=str(path)))
    ours.init_weights()
    tv.eval()
    ours.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = tv.layer4(tv.layer3(tv.layer2(tv.layer1(
            tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
        assert torch.equal(ours(x)[3], expected)


def test_torchvision_dilated_resnet_equals_the_deeplab_configuration(tmp_path):
    # torchvision's replace_stride_with_dilation=[False, True, True] dilates layer3/4 with the
    # first block at the previous rate: the same network as DeepLab's contract_dilation.
    tv = torchvision.models.resnet50(weights=None,
                                     replace_stride_with_dilation=[False, True, True])
    path = tmp_path / 'resnet50-torchvision.pth'
    torch.save(tv.state_dict(), path)
    ours = build_backbone(dict(type='ResNet', depth=50, pretrained=str(path), **DEEPLAB))
    ours.init_weights()
    tv.eval()
    ours.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = tv.layer4(tv.layer3(tv.layer2(tv.layer1(
            tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
        out = ours(x)[3]
    assert out.shape[-1] == 8
    assert torch.equal(out, expected)


def test_torchvision_weights_for_a_deep_stem_resnet_are_refused_with_the_fix(tmp_path):
    path = tmp_path / 'resnet50-torchvision.pth'
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    model = build_backbone(dict(type='ResNetV1c', depth=50, pretrained=str(path)))
    with pytest.raises(UserError, match=r"missing keys \['stem.0.weight'.*torchvision weights "
                                        r"fit type=ResNet"):
        model.init_weights()


def test_missing_pretrained_file_is_a_user_error(tmp_path):
    model = build_backbone(dict(type='ResNet', depth=50, pretrained=str(tmp_path / 'no.pth')))
    with pytest.raises(UserError, match='pretrained backbone weights not found'):
        model.init_weights()
