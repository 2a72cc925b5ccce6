"""Decode heads: DAFormer / SegFormer structure, base-head losses and HRDA's scale fusion."""
import pytest
import torch
import torch.nn.functional as F

from mmseg.models.builder import build_head

from models_helpers import MIT_B0_CHANNELS, MIT_B5_CHANNELS, NORM_CFG, daformer_head

BN = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']


def daformer_sepaspp_keys():
    """decode_head keys of MIC's DAFormer sepaspp head (_base_/models/daformer_sepaspp_mitb5.py)."""
    keys = [f'embed_layers.{i}.proj.{p}' for i in range(4) for p in ('weight', 'bias')]
    keys += ['fuse_layer.aspp_modules.0.conv.weight']
    keys += [f'fuse_layer.aspp_modules.0.bn.{b}' for b in BN]
    for i in (1, 2, 3):
        for part in ('depthwise_conv', 'pointwise_conv'):
            keys += [f'fuse_layer.aspp_modules.{i}.{part}.conv.weight']
            keys += [f'fuse_layer.aspp_modules.{i}.{part}.bn.{b}' for b in BN]
    keys += ['fuse_layer.bottleneck.conv.weight'] + [f'fuse_layer.bottleneck.bn.{b}' for b in BN]
    return set(keys + ['conv_seg.weight', 'conv_seg.bias'])


def feats(channels, size, batch=2):
    """Random backbone maps of an image of `size` px at strides 4..32."""
    return [torch.randn(batch, c, size // 2**(i + 2), size // 2**(i + 2))
            for i, c in enumerate(channels)]


def hrda_head(channels=16, **kwargs):
    cfg = daformer_head(MIT_B0_CHANNELS, channels, 'sepaspp')
    cfg.update(type='HRDAHead', single_scale_head='DAFormerHead', attention_embed_dim=channels,
               scales=[0.5, 1], **kwargs)
    return build_head(cfg)


def test_daformer_sepaspp_head_keys_and_parameter_count():
    head = build_head(daformer_head(MIT_B5_CHANNELS, 256, 'sepaspp'))
    assert set(head.state_dict()) == daformer_sepaspp_keys()
    assert sum(p.numel() for p in head.parameters()) == 3_712_275
    conv = head.fuse_layer.aspp_modules[2].depthwise_conv.conv
    assert (conv.groups, conv.dilation, conv.padding, conv.bias) == (1024, (12, 12), (12, 12), None)


def test_segformer_b5_head_keys_and_parameter_count():
    head = build_head(dict(
        type='SegFormerHead', in_channels=MIT_B5_CHANNELS, in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32], channels=128, dropout_ratio=0.1, num_classes=19,
        norm_cfg=NORM_CFG, align_corners=False,
        decoder_params=dict(embed_dim=768, conv_kernel_size=1)))
    expected = {f'linear_c.{i}.proj.{p}' for i in range(4) for p in ('weight', 'bias')}
    expected |= {'linear_fuse.conv.weight', 'linear_pred.weight', 'linear_pred.bias',
                 'conv_seg.weight', 'conv_seg.bias'} | {f'linear_fuse.bn.{b}' for b in BN}
    assert set(head.state_dict()) == expected
    assert sum(p.numel() for p in head.parameters()) == 3_167_398
    assert head.eval()(feats(MIT_B5_CHANNELS, 64)).shape == (2, 19, 16, 16)


def test_hrda_head_keys_and_parameter_count():
    cfg = daformer_head(MIT_B5_CHANNELS, 256, 'sepaspp')
    cfg.update(type='HRDAHead', single_scale_head='DAFormerHead', scales=[0.5, 1])
    head = build_head(cfg)
    keys = set(head.state_dict())
    assert {k[len('head.'):] for k in keys if k.startswith('head.')} == daformer_sepaspp_keys()
    attention = {k[len('scale_attention.'):] for k in keys if k.startswith('scale_attention.')}
    embed = {f'embed_layers.{i}.proj.{p}' for i in range(4) for p in ('weight', 'bias')}
    assert attention == (embed | {'fuse_layer.conv.weight', 'conv_seg.weight', 'conv_seg.bias'}
                         | {f'fuse_layer.bn.{b}' for b in BN})
    assert 'conv_seg.weight' not in keys
    assert head.state_dict()['scale_attention.conv_seg.weight'].shape == (19, 256, 1, 1)
    assert sum(p.numel() for p in head.parameters()) == 4_242_982


@pytest.mark.parametrize('fusion', ['conv1', 'aspp'])
def test_daformer_fusion_variants_give_stride_4_logits(fusion):
    head = build_head(daformer_head(MIT_B0_CHANNELS, 16, fusion)).eval()
    assert head(feats(MIT_B0_CHANNELS, 64)).shape == (2, 19, 16, 16)
    keys = set(head.state_dict())
    if fusion == 'conv1':
        assert 'fuse_layer.conv.weight' in keys
    else:  # plain ASPP with image pooling: 3x3 atrous ConvModules, no separable parts
        assert {'fuse_layer.image_pool.1.conv.weight',
                'fuse_layer.aspp_modules.3.conv.weight'} <= keys


def test_forward_is_conv_seg_of_forward_features_in_eval():
    head = build_head(daformer_head(MIT_B0_CHANNELS, 16)).eval()
    x = feats(MIT_B0_CHANNELS, 64)
    features = head.forward_features(x)
    assert features.shape == (2, 16, 16, 16)
    torch.testing.assert_close(head(x), head.conv_seg(features))


def test_daformer_features_stay_contiguous_nchw_as_in_mic():
    """The MLP embeddings' token-to-map reshape must not hand the fusion a channels_last view:
    the convolutions would run in that format (slower on CPU, and not MIC's layout)."""
    head = build_head(daformer_head(MIT_B0_CHANNELS, 16)).eval()
    features = head.forward_features(feats(MIT_B0_CHANNELS, 64))
    assert features.is_contiguous()


def test_conv_seg_init_is_normal_std_001_with_zero_bias():
    head = build_head(daformer_head(MIT_B5_CHANNELS, 256))
    head.init_weights()
    assert head.conv_seg.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.all(head.conv_seg.bias == 0)
    assert isinstance(head.dropout, torch.nn.Dropout2d) and head.dropout.p == 0.1


def test_losses_upsample_logits_to_label_size_before_ce():
    head = build_head(daformer_head(MIT_B0_CHANNELS, 16, num_classes=3))
    logits = torch.randn(2, 3, 4, 4)
    label = torch.randint(0, 3, (2, 1, 16, 16))
    label[0, 0, :2] = 255
    weight = torch.rand(2, 16, 16)
    up = F.interpolate(logits, size=(16, 16), mode='bilinear', align_corners=False)
    ce = F.cross_entropy(up, label[:, 0], ignore_index=255, reduction='none')
    losses = head.losses(logits, label, weight)
    assert losses['loss_seg'].item() == pytest.approx((ce * weight).mean().item(), rel=1e-5)
    correct = (up.argmax(1) == label[:, 0]).float().sum().item()
    assert losses['acc_seg'].item() == pytest.approx(100 * correct / label.numel(), rel=1e-5)


# --- HRDA ------------------------------------------------------------------------------------
# Full-res image 64 px; LR = 0.5 scale (32 px); HR crop box (y1, y2, x1, x2) = (8, 40, 16, 48).
BOX = (8, 40, 16, 48)


def _bilinear_x2(x):
    return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)


def test_hrda_fused_is_attention_weighted_hr_plus_upsampled_lr():
    head = hrda_head(enable_hr_crop=True).eval()
    lr_inp, hr_inp = feats(MIT_B0_CHANNELS, 32), feats(MIT_B0_CHANNELS, 32)
    with torch.no_grad():
        fused, lr_out, hr_out = head([lr_inp, hr_inp], hr_crop_box=BOX)
        lr = head.head(lr_inp)  # (2, 19, 8, 8) at LR stride 8 of the full image
        hr = head.head(hr_inp)  # (2, 19, 8, 8) covering the crop
        att = torch.sigmoid(head.scale_attention(lr_inp))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 1:5, 2:6] = 1  # BOX / 8
    att = att * mask
    inserted = torch.zeros(2, 19, 16, 16)
    inserted[..., 2:10, 4:12] = hr  # BOX / 4
    expected = _bilinear_x2(att) * inserted + _bilinear_x2((1 - att) * lr)
    torch.testing.assert_close(fused, expected)
    torch.testing.assert_close(lr_out, (1 - att) * lr)
    torch.testing.assert_close(hr_out, hr)
    # far from the crop the prediction is the plain upsampled LR one
    torch.testing.assert_close(fused[..., 14:, 14:], _bilinear_x2(lr)[..., 14:, 14:])


def test_hrda_losses_weight_fused_by_09_and_hr_on_cropped_label_by_01():
    head = hrda_head(enable_hr_crop=True, hr_loss_weight=0.1).eval()
    lr_inp, hr_inp = feats(MIT_B0_CHANNELS, 32), feats(MIT_B0_CHANNELS, 32)
    label = torch.randint(0, 19, (2, 1, 64, 64))
    label[:, :, 10:20] = 255
    weight = torch.rand(2, 64, 64)
    with torch.no_grad():
        losses = head.forward_train([lr_inp, hr_inp], None, label, None, seg_weight=weight,
                                    hr_crop_box=BOX)
        fused, _, hr = head([lr_inp, hr_inp], hr_crop_box=BOX)

    def mean_ce(logits, lbl, w):
        up = F.interpolate(logits, size=lbl.shape[2:], mode='bilinear', align_corners=False)
        return (F.cross_entropy(up, lbl[:, 0], ignore_index=255, reduction='none') * w).mean()

    assert set(losses) == {'loss_seg', 'acc_seg', 'hr.loss_seg', 'hr.acc_seg'}
    assert losses['loss_seg'].item() == pytest.approx(0.9 * mean_ce(fused, label, weight).item(),
                                                      rel=1e-5)
    cropped = mean_ce(hr, label[:, :, 8:40, 16:48], weight[:, 8:40, 16:48])
    assert losses['hr.loss_seg'].item() == pytest.approx(0.1 * cropped.item(), rel=1e-5)


def test_hrda_slide_tiles_are_pasted_and_averaged_by_overlap():
    head = hrda_head().eval()
    tiles = feats(MIT_B0_CHANNELS, 32, batch=2 * 2)  # 2 tiles x batch 2, tile-major
    boxes = [(0, 32, 0, 32), (0, 32, 16, 48)]  # a 32 x 48 image, 32 px tiles, stride 16
    with torch.no_grad():
        _, merged = head.decode_hr(dict(features=tiles, boxes=boxes), batch_size=2)
        logits = head.head(tiles)
    first, second = logits[:2], logits[2:]
    assert merged.shape == (2, 19, 8, 12)
    torch.testing.assert_close(merged[..., :4], first[..., :4])
    torch.testing.assert_close(merged[..., 4:8], (first[..., 4:] + second[..., :4]) / 2)
    torch.testing.assert_close(merged[..., 8:], second[..., 4:])


def test_hrda_slide_tiles_are_summed_in_fp32_under_bf16_autocast():
    head = hrda_head().eval()
    tiles = feats(MIT_B0_CHANNELS, 32, batch=2 * 2)
    boxes = [(0, 32, 0, 32), (0, 32, 16, 48)]
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        _, merged = head.decode_hr(dict(features=tiles, boxes=boxes), batch_size=2)
        logits = head.head(tiles)
    assert logits.dtype == torch.bfloat16 and merged.dtype == torch.float32
    first, second = logits[:2].float(), logits[2:].float()
    torch.testing.assert_close(merged[..., 4:8], (first[..., 4:] + second[..., :4]) / 2,
                               rtol=0, atol=0)


@pytest.mark.parametrize('value', [0.0, 1.0])
def test_hrda_fixed_attention_outputs_lr_only_or_hr_only(value):
    head = hrda_head(fixed_attention=value).eval()
    assert head.scale_attention is None
    lr_inp, hr_inp = feats(MIT_B0_CHANNELS, 32), feats(MIT_B0_CHANNELS, 64)
    with torch.no_grad():
        out = head.forward_test([lr_inp, hr_inp], None, None)
        expected = _bilinear_x2(head.head(lr_inp)) if value == 0 else head.head(hr_inp)
    torch.testing.assert_close(out, expected)


def test_hrda_debug_output_attention_is_one_channel_effective_weight():
    head = hrda_head(debug_output_attention=True).eval()
    lr_inp, hr_inp = feats(MIT_B0_CHANNELS, 32), feats(MIT_B0_CHANNELS, 64)
    with torch.no_grad():
        att_map = head.forward_test([lr_inp, hr_inp], None, None)
        out = head.forward_scales([lr_inp, hr_inp])
    expected = (out['att'] * out['fused'].softmax(1)).sum(1, keepdim=True)
    assert att_map.shape == (2, 1, 16, 16)
    torch.testing.assert_close(att_map, expected)
    assert 0 <= att_map.min() and att_map.max() <= 1
