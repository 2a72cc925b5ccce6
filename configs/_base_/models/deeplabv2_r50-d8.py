# DeepLabV2 (ResNet-50 V1c, output stride 8, ASPP-sum classifier) as in MIC/DAFormer's
# DeepLabV2 experiments. experiments.py swaps in depth 101 and the resnet101_v1c weights.
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    # open-mmlab's ImageNet weights of the deep-stem ResNet (downloaded into torch's hub
    # cache on first use); 'torchvision://resnet50' needs backbone type 'ResNet'.
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        # Output stride 8: stages 3 and 4 keep the resolution and dilate instead.
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        # The first block of a dilated stage uses half the dilation.
        contract_dilation=True),
    decode_head=dict(
        type='DLV2Head',
        in_channels=2048,
        in_index=3,
        # One atrous 3x3 classifier per rate, summed.
        dilations=(6, 12, 18, 24),
        num_classes=19,
        align_corners=False,
        init_cfg=dict(
            type='Normal', std=0.01, override=dict(name='aspp_modules')),
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
