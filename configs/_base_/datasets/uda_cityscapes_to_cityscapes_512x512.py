# Cityscapes -> Cityscapes at 512x512 (half resolution): the UDA loop trained on labelled
# Cityscapes as "source". With `uda.source_only=True` this is supervised training, which MIC uses
# to measure masked image consistency without domain shift (MIC Table 9, experiment group 85).
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes/'
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
crop_size = (512, 512)
# Colour augmentation happens inside the UDA step, not in the pipeline.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=(1024, 512)),
    # Re-draw crops dominated (>75%) by one class, at most 10 times.
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='Pad', size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_semantic_seg']),
]
# Whole 1024x512 images; multi-scale and flip test-time augmentation off.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(1024, 512),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
cityscapes_train = dict(
    type='CityscapesDataset',
    data_root='data/cityscapes/',
    img_dir='leftImg8bit/train',
    ann_dir='gtFine/train',
    pipeline=train_pipeline)
cityscapes_val = dict(
    type='CityscapesDataset',
    data_root='data/cityscapes/',
    img_dir='leftImg8bit/val',
    ann_dir='gtFine/val',
    pipeline=test_pipeline)
data = dict(
    samples_per_gpu=2,
    workers_per_gpu=4,
    train=dict(type='UDADataset', source=cityscapes_train, target=cityscapes_train),
    val=cityscapes_val,
    test=cityscapes_val)
