# HRDA (MIC's segmentor) with a MiT-B0 encoder and a thin DAFormer decoder, sized for a CPU:
# 128x128 crops, 64x64 detail crops, trained from random initialisation (no ImageNet weights
# are needed for the synthetic benchmark).
_base_ = ['../../_base_/models/daformer_sepaspp_mitb5.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='HRDAEncoderDecoder',
    pretrained=None,
    backbone=dict(type='mit_b0', style='pytorch'),
    decode_head=dict(
        type='HRDAHead',
        single_scale_head='DAFormerHead',
        attention_classwise=True,
        hr_loss_weight=0.1,
        attention_embed_dim=64,
        in_channels=[32, 64, 160, 256],
        channels=64,
        decoder_params=dict(embed_dims=64)),
    scales=[1, 0.5],
    hr_crop_size=(64, 64),
    feature_scale=0.5,
    crop_coord_divisible=8,
    hr_slide_inference=True,
    test_cfg=dict(mode='slide', batched_slide=True, stride=[64, 64], crop_size=[128, 128]))
