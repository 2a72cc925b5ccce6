# The synthetic domain-shift benchmark (docs/results/synthetic_benchmark.md): a GTA-like
# source and a Cityscapes-like target written by tools/synthetic/generate.py in the
# real folder layouts, converted by the real converters. Images are 128x256 (H x W); crops 128x128.
dataset_type = 'CityscapesDataset'
data_root = 'data/demo/'
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
crop_size = (128, 128)
source_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=(256, 128)),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
target_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=(256, 128)),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(256, 128),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
target_val = dict(
    type='CityscapesDataset',
    data_root='data/demo/cityscapes/',
    img_dir='leftImg8bit/val',
    ann_dir='gtFine/val',
    pipeline=test_pipeline)
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=1,
    train=dict(
        type='UDADataset',
        # The synthetic target has labels: pass them on to log the pseudo-label accuracy
        # (plf.acc_*); they are never used for training.
        debug_gt=True,
        source=dict(
            type='GTADataset',
            data_root='data/demo/gta/',
            img_dir='images',
            ann_dir='labels',
            pipeline=source_train_pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root='data/demo/cityscapes/',
            img_dir='leftImg8bit/train',
            ann_dir='gtFine/train',
            pipeline=target_train_pipeline),
        # MIC's RCS, with min_pixels scaled from 3000 at GTA's 1914x1052 to 128x256.
        rare_class_sampling=dict(min_pixels=50, class_temp=0.01, min_crop_ratio=2.0)),
    val=target_val,
    test=target_val)
