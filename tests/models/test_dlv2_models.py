"""DLV2Head and the DeepLabV2 segmentors (plain and HRDA) built from the shipped configs."""
import os

import pytest
import torch
import torch.nn.functional as F
from mmcv import Config

from mmseg.models import build_head, build_segmentor

from models_helpers import NARROW, key_shape_digest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(REPO, 'configs', '_base_', 'models')

# Segmentor parameter count, decode-head parameter count, state-dict entries and key/shape
# digest (`key_shape_digest`) of MIC's own models, measured by building MIC's seg/mmseg on this
# stack in a temporary folder outside the repository from MIC's `_base_/models/<file>` (with
# pretrained=None and backbone depth as given), and for 'hrda' with the model keys that MIC's
# experiments.py sets for 'hrda1-512-0.1_<arch>' (as in `to_hrda` below).
MIC_MODELS = {
    ('deeplabv2_r50-d8.py', 50, False): (24_928_172, 1_400_908, 338, '90acda088fbfb86c'),
    ('deeplabv2_r50-d8.py', 101, False): (43_920_300, 1_400_908, 644, 'faf0842dfba631ff'),
    ('deeplabv2red_r50-d8.py', 50, False): (24_227_718, 700_454, 334, 'd90b4b59b0afdf04'),
    ('deeplabv2red_r50-d8.py', 101, False): (43_219_846, 700_454, 640, 'c932e02392bbb014'),
    ('deeplabv2_r50-d8.py', 50, True): (26_329_080, 2_801_816, 346, '1e5551cd71cef64c'),
    ('deeplabv2_r50-d8.py', 101, True): (45_321_208, 2_801_816, 652, '81f2674646d6b306'),
    ('deeplabv2red_r50-d8.py', 50, True): (24_928_172, 1_400_908, 338, '6503479380b09ad8'),
    ('deeplabv2red_r50-d8.py', 101, True): (43_920_300, 1_400_908, 644, 'd5a6a2a1e41a73c4'),
}


def to_hrda(model: Config, hr_crop_size=(512, 512)) -> Config:
    """The keys MIC's experiments.py sets to turn a model base into HRDA ('hrda1-512-0.1')."""
    model.type = 'HRDAEncoderDecoder'
    model.scales = [1, 0.5]
    model.decode_head.single_scale_head = model.decode_head.type
    model.decode_head.type = 'HRDAHead'
    model.hr_crop_size = hr_crop_size
    model.feature_scale = 0.5
    model.crop_coord_divisible = 8
    model.hr_slide_inference = True
    model.decode_head.attention_classwise = True
    model.decode_head.hr_loss_weight = 0.1
    return model


def model_cfg(name: str, depth: int = 50, hrda: bool = False, narrow: bool = False,
              **hrda_kwargs) -> Config:
    model = Config.fromfile(os.path.join(MODELS, name)).model
    model.pretrained = None
    model.backbone.depth = depth
    if narrow:
        model.backbone.update(NARROW)
        model.decode_head.in_channels = NARROW['base_channels'] * 8 * 4
    return to_hrda(model, **hrda_kwargs) if hrda else model


def metas(size, n=2):
    return [dict(img_shape=(size, size, 3), ori_shape=(size, size, 3),
                 pad_shape=(size, size, 3), flip=False)] * n


@pytest.mark.parametrize('name,depth,hrda', list(MIC_MODELS))
def test_parameter_count_and_keys_equal_mics_model(name, depth, hrda):
    model = build_segmentor(model_cfg(name, depth, hrda))
    state_dict = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters())
    n_head = sum(p.numel() for p in model.decode_head.parameters())
    assert (n_params, n_head, len(state_dict), key_shape_digest(state_dict)) == \
        MIC_MODELS[(name, depth, hrda)]


def test_dlv2_head_keys_are_one_biased_conv_per_dilation():
    head = build_head(dict(type='DLV2Head', in_channels=2048, in_index=3, dilations=(6, 12),
                           num_classes=19))
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == {
        'aspp_modules.0.conv.weight': (19, 2048, 3, 3), 'aspp_modules.0.conv.bias': (19, ),
        'aspp_modules.1.conv.weight': (19, 2048, 3, 3), 'aspp_modules.1.conv.bias': (19, )}
    # 2 x (19 * 2048 * 9 + 19)
    assert sum(p.numel() for p in head.parameters()) == 700_454


def test_dlv2_head_logits_are_the_sum_of_the_atrous_convs():
    head = build_head(dict(type='DLV2Head', in_channels=8, in_index=0, dilations=(1, 2, 3),
                           num_classes=3))
    x = torch.randn(2, 8, 9, 9)
    expected = 0
    for branch, d in zip(head.aspp_modules, (1, 2, 3)):
        conv = branch.conv
        k, pad = (1, 0) if d == 1 else (3, d)
        assert conv.kernel_size == (k, k)
        expected = expected + F.conv2d(x, conv.weight, conv.bias, padding=pad, dilation=d)
    assert torch.allclose(head([x]), expected, atol=1e-6)


def test_dlv2_head_init_is_normal_001_with_zero_bias():
    cfg = Config.fromfile(os.path.join(MODELS, 'deeplabv2_r50-d8.py')).model.decode_head
    head = build_head(cfg)
    head.init_weights()
    weight = head.aspp_modules[2].conv.weight
    assert abs(weight.std().item() - 0.01) < 5e-4
    assert torch.all(head.aspp_modules[2].conv.bias == 0)


@pytest.mark.parametrize('fixed', ['channels', 'dropout_ratio', 'norm_cfg'])
def test_dlv2_head_refuses_arguments_it_fixes(fixed):
    with pytest.raises(TypeError, match=fixed):
        build_head(dict(type='DLV2Head', in_channels=8, in_index=0, num_classes=3,
                        **{fixed: None}))


@pytest.mark.parametrize('name', ['deeplabv2_r50-d8.py', 'deeplabv2red_r50-d8.py'])
def test_deeplabv2_predicts_at_output_stride_8_and_trains(name):
    model = build_segmentor(model_cfg(name, narrow=True))
    img = torch.randn(2, 3, 64, 64)
    assert model.decode_head(model.extract_feat(img)).shape == (2, 19, 8, 8)
    losses = model.forward_train(img, metas(64), torch.randint(0, 19, (2, 1, 64, 64)))
    losses['decode.loss_seg'].backward()
    assert model.decode_head.aspp_modules[0].conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model.encode_decode(img, metas(64)).shape == (2, 19, 64, 64)


def test_hrda_with_dlv2_head_fuses_at_output_stride_8():
    model = build_segmentor(model_cfg('deeplabv2red_r50-d8.py', hrda=True, narrow=True,
                                      hr_crop_size=(32, 32)))
    head = model.decode_head
    assert head.os == 8
    assert type(head.head).__name__ == type(head.scale_attention).__name__ == 'DLV2Head'
    assert head.scale_attention.num_classes == 19
    img = torch.randn(2, 3, 64, 64)
    gt = torch.randint(0, 19, (2, 1, 64, 64))
    losses = model.forward_train(img, metas(64), gt, return_logits=True)
    assert {'decode.loss_seg', 'decode.hr.loss_seg'} <= set(losses)
    # Fused logits at HR resolution / 8; the detail head ran on the 32x32 crop.
    assert losses['decode.logits'].shape == (2, 19, 8, 8)
    (losses['decode.loss_seg'] + losses['decode.hr.loss_seg']).backward()
    assert head.scale_attention.aspp_modules[1].conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model.encode_decode(img, metas(64)).shape == (2, 19, 64, 64)


def test_hrda_dlv2_single_attention_map_has_one_class():
    model = build_segmentor(model_cfg('deeplabv2red_r50-d8.py', hrda=True, narrow=True))
    assert model.decode_head.scale_attention.num_classes == 19
    cfg = model_cfg('deeplabv2red_r50-d8.py', hrda=True, narrow=True)
    cfg.decode_head.attention_classwise = False
    model = build_segmentor(cfg)
    assert model.decode_head.scale_attention.num_classes == 1
