# MIC(HRDA) on the pretrained synthetic benchmark with a ViT encoder instead of MiT-B0: the same
# UDA settings, schedule, data and ImageNet feature distance as mic_synthetic.py. The ViT is the
# ViT stand-in of tools/synthetic/pretrain.py (`--backbone vit_tiny`: timm's DINOv3
# architecture, patch 16, at width 192, 6 blocks, 3 heads; pretrained on the third look like
# MiT-B0's stand-in and saved in timm's format), also the frozen `imnet_model`. The pyramid is
# the simple feature pyramid (transposed convolutions / max-pooling), far cheaper on a CPU than
# the ViT-Adapter; without `out_channels` its stride-32 map is the ViT's last block max-pooled,
# so the feature distance compares the ViT's own features. Patch 16 tiles the 128 px crops and
# HRDA's 64 px LR images and detail crops exactly (no resize).
_base_ = ['mic_synthetic.py']
model = dict(
    pretrained='pretrained/vit_tiny_synthetic.pth',
    backbone=dict(
        _delete_=True,
        type='TimmViT',
        model_name='vit_small_patch16_dinov3',
        model_kwargs=dict(embed_dim=192, depth=6, num_heads=3),
        pyramid=dict(type='SimpleFeaturePyramid')),
    decode_head=dict(in_channels=[192, 192, 192, 192]))
name = 'synthetic_pretrained_mic_hrda_vit'
