# DAFormer decoder with a plain 1x1-conv fusion: SegFormer's head with 256 embedding
# channels (the "conv1" row of DAFormer's decoder ablation). Other DAFormer variants
# inherit this file and replace only `fusion_cfg`.

norm_cfg = dict(type='BN', requires_grad=True)
# Some heads keep parameters that a given forward does not use (e.g. the unused
# `conv_seg` of SegFormerHead); DDP must not wait for their gradients.
find_unused_parameters = True
model = dict(
    type='EncoderDecoder',
    # SegFormer's ImageNet MiT-B5 weights; copied to backbone.pretrained on build.
    pretrained='pretrained/mit_b5.pth',
    backbone=dict(type='mit_b5', style='pytorch'),
    decode_head=dict(
        type='DAFormerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        decoder_params=dict(
            embed_dims=256,
            embed_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            embed_neck_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            fusion_cfg=dict(
                type='conv',
                kernel_size=1,
                act_cfg=dict(type='ReLU'),
                norm_cfg=norm_cfg),
        ),
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
