"""MIC(HRDA) GTA->Cityscapes values written out from MIC's configs/mic/gtaHR2csHR_mic_hrda.py and
the `_base_` files it inherits, and PCPR's key sets (docs/method/pcpr.md), independently of the
config files."""

NORM = dict(type='BN', requires_grad=True)
IMG_NORM = dict(
    type='Normalize',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
TAIL = [
    IMG_NORM,
    dict(type='Pad', size=(1024, 1024), pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
GTA_TRAIN = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=(2560, 1440)),
    dict(type='RandomCrop', crop_size=(1024, 1024), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
] + TAIL
CS_TRAIN = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=(2048, 1024)),
    dict(type='RandomCrop', crop_size=(1024, 1024)),
    dict(type='RandomFlip', prob=0.5),
] + TAIL
CS_TEST = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(2048, 1024),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            IMG_NORM,
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ]),
]
CS_VAL = dict(
    type='CityscapesDataset',
    data_root='data/cityscapes/',
    img_dir='leftImg8bit/val',
    ann_dir='gtFine/val',
    pipeline=CS_TEST)

MODEL = dict(
    type='HRDAEncoderDecoder',
    pretrained='pretrained/mit_b5.pth',
    backbone=dict(type='mit_b5', style='pytorch'),
    decode_head=dict(
        type='HRDAHead',
        single_scale_head='DAFormerHead',
        attention_classwise=True,
        hr_loss_weight=0.1,
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=NORM,
        align_corners=False,
        decoder_params=dict(
            embed_dims=256,
            embed_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            embed_neck_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            fusion_cfg=dict(
                type='aspp',
                sep=True,
                dilations=(1, 6, 12, 18),
                pool=False,
                act_cfg=dict(type='ReLU'),
                norm_cfg=NORM)),
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    scales=[1, 0.5],
    hr_crop_size=(512, 512),
    feature_scale=0.5,
    crop_coord_divisible=8,
    hr_slide_inference=True,
    train_cfg=dict(),
    test_cfg=dict(
        mode='slide', batched_slide=True, stride=[512, 512],
        crop_size=[1024, 1024]))

DATA = dict(
    samples_per_gpu=2,
    workers_per_gpu=1,
    train=dict(
        type='UDADataset',
        source=dict(
            type='GTADataset',
            data_root='data/gta/',
            img_dir='images',
            ann_dir='labels',
            pipeline=GTA_TRAIN),
        target=dict(
            type='CityscapesDataset',
            data_root='data/cityscapes/',
            img_dir='leftImg8bit/train',
            ann_dir='gtFine/train',
            pipeline=CS_TRAIN,
            crop_pseudo_margins=[30, 240, 30, 30]),
        rare_class_sampling=dict(
            min_pixels=3000, class_temp=0.01, min_crop_ratio=2.0)),
    val=CS_VAL,
    test=CS_VAL)

UDA_MIC = dict(
    type='DACS',
    source_only=False,
    alpha=0.999,
    pseudo_threshold=0.968,
    pseudo_weight_ignore_top=0,
    pseudo_weight_ignore_bottom=0,
    imnet_feature_dist_lambda=0.005,
    imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
    imnet_feature_dist_scale_min_ratio=0.75,
    mix='class',
    blur=True,
    color_jitter_strength=0.2,
    color_jitter_probability=0.2,
    mask_mode='separatetrgaug',
    mask_alpha='same',
    mask_pseudo_threshold='same',
    mask_lambda=1,
    mask_generator=dict(type='block', mask_ratio=0.7, mask_block_size=64),
    debug_img_interval=1000,
    print_grad_magnitude=False)

PLF = dict(
    use_consistency=False, consistency_mode='hard', inconsistent_weight=0.0,
    use_edge=False, edge_radius=3, edge_gamma=1.0, edge_stride=4,
    drop_below=0.0, plf_on_masked=True)
FPC = dict(
    proj_dim=256, proto_scale='lr', label_min_ratio=0.75, reliable_weight=0.5,
    max_samples=1024, max_views=100, min_views=10, num_prototypes=10,
    sinkhorn_iters=3, sinkhorn_epsilon=0.05, proto_momentum=0.999,
    temperature=0.1, lambda_cont=0.01, lambda_cons=0.001,
    proto_start_iter=1500, proto_rampup_iters=0)
UDA_PCPR = dict(UDA_MIC, type='PCPR', plf=PLF, fpc=FPC)

OPTIMIZER = dict(
    type='AdamW',
    lr=6e-05,
    betas=(0.9, 0.999),
    weight_decay=0.01,
    paramwise_cfg=dict(
        custom_keys=dict(
            head=dict(lr_mult=10.0),
            pos_block=dict(decay_mult=0.0),
            norm=dict(decay_mult=0.0))))
LR_CONFIG = dict(
    policy='poly', warmup='linear', warmup_iters=1500, warmup_ratio=1e-6,
    power=1.0, min_lr=0.0, by_epoch=False)
RUNNER = dict(type='IterBasedRunner', max_iters=40000)
RUNTIME = dict(
    optimizer_config=None,
    checkpoint_config=dict(by_epoch=False, interval=40000, max_keep_ckpts=1),
    evaluation=dict(interval=4000, metric='mIoU'),
    log_config=dict(
        interval=50,
        img_interval=1000,
        # TensorBoard is this repository's addition (logging only).
        hooks=[dict(type='TextLoggerHook', by_epoch=False),
               dict(type='TensorboardLoggerHook', by_epoch=False)]),
    cudnn_benchmark=True,
    use_ddp_wrapper=True,
    n_gpus=1,
    gpu_model='NVIDIATITANRTX',
    seed=2)
