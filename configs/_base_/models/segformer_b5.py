# SegFormer-B5 (MLP decoder with 768 embedding channels), with BN instead of SyncBN
# so that it runs on one GPU. Named as in MIC's experiments.py (`segformer` + `_b5`).

norm_cfg = dict(type='BN', requires_grad=True)
# SegFormerHead predicts with its own `linear_pred`; the base class's `conv_seg`
# stays unused, so DDP must tolerate parameters without gradients.
find_unused_parameters = True
model = dict(
    type='EncoderDecoder',
    pretrained='pretrained/mit_b5.pth',
    backbone=dict(type='mit_b5', style='pytorch'),
    decode_head=dict(
        type='SegFormerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=128,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        decoder_params=dict(embed_dim=768, conv_kernel_size=1),
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
