"""MIC's model config (DAFormer sepaspp + HRDA wrapper) builds and trains with MiT-B0."""
import torch
from mmcv import Config

from mmseg.models.builder import build_segmentor

# configs/_base_/models/daformer_sepaspp_mitb5.py (inheriting daformer_conv1_mitb5.py) with the
# HRDA keys of configs/mic/gtaHR2csHR_mic_hrda.py, as one dict.
NORM_CFG = dict(type='BN', requires_grad=True)
MIC_HRDA_MODEL = dict(
    type='HRDAEncoderDecoder',
    pretrained='pretrained/mit_b5.pth',
    backbone=dict(type='mit_b5', style='pytorch'),
    decode_head=dict(
        type='HRDAHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=NORM_CFG,
        align_corners=False,
        decoder_params=dict(
            embed_dims=256,
            embed_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            embed_neck_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            fusion_cfg=dict(type='aspp', sep=True, dilations=(1, 6, 12, 18), pool=False,
                            act_cfg=dict(type='ReLU'), norm_cfg=NORM_CFG)),
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        single_scale_head='DAFormerHead',
        attention_classwise=True,
        hr_loss_weight=0.1),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', batched_slide=True, stride=[512, 512], crop_size=[1024, 1024]),
    scales=[1, 0.5],
    hr_crop_size=(512, 512),
    feature_scale=0.5,
    crop_coord_divisible=8,
    hr_slide_inference=True)


def test_mic_hrda_config_with_mit_b0_does_forward_and_backward():
    cfg = Config(dict(model=MIC_HRDA_MODEL))
    cfg.model.pretrained = None
    cfg.model.backbone.type = 'mit_b0'
    cfg.model.decode_head.in_channels = [32, 64, 160, 256]
    cfg.model.hr_crop_size = (64, 64)
    cfg.model.test_cfg.update(stride=[64, 64], crop_size=[128, 128])
    model = build_segmentor(cfg.model)
    model.init_weights()
    img = torch.randn(2, 3, 128, 128)
    label = torch.randint(0, 19, (2, 1, 128, 128))
    losses = model.forward_train(img, [{}] * 2, label, return_feat=True)
    loss, log_vars = model._parse_losses(
        {k: v for k, v in losses.items() if k != 'features'})
    loss.backward()
    assert set(log_vars) == {'decode.loss_seg', 'decode.acc_seg', 'decode.hr.loss_seg',
                             'decode.hr.acc_seg', 'loss'}
    assert [f.shape[-1] for f in losses['features']] == [16, 8, 4, 2]  # LR: 64 px
    assert model.backbone.block1[0].attn.q.weight.grad is not None
    model.eval()
    meta = [dict(ori_shape=(160, 192, 3), flip=False)]
    with torch.no_grad():
        pred = model.simple_test(torch.randn(1, 3, 160, 192), meta)
    assert pred[0].shape == (160, 192)
