# HRDA on GTA -> Cityscapes, the first link of the chain hrda -> mic -> pcpr:
# configs/mic/gtaHR2csHR_mic_hrda.py adds MIC's masked image consistency to this file and
# configs/pcpr/gtaHR2csHR_pcpr.py adds PCPR's uda block to that. experiments.py id 40 runs
# all seeds.

_base_ = [
    '../_base_/default_runtime.py',
    # MiT-B5 encoder + DAFormer decoder (separable-ASPP fusion)
    '../_base_/models/daformer_sepaspp_mitb5.py',
    # GTA -> Cityscapes data at full resolution (1024x1024 crops)
    '../_base_/datasets/uda_gtaHR_to_cityscapesHR_1024x1024.py',
    # DAFormer self-training: teacher alpha 0.999 + thing-class ImageNet feature distance
    '../_base_/uda/dacs_a999_fdthings.py',
    # AdamW
    '../_base_/schedules/adamw.py',
    # linear warm-up, then linear decay
    '../_base_/schedules/poly10warm.py'
]
# HRDA's released configuration uses seed 1.
seed = 1
# HRDA: a low-resolution context crop plus a high-resolution detail crop, fused by a
# learned scale attention.
model = dict(
    type='HRDAEncoderDecoder',
    decode_head=dict(
        type='HRDAHead',
        # Each scale is decoded by the DAFormer head of the base model file.
        single_scale_head='DAFormerHead',
        # One attention map per class instead of one shared map.
        attention_classwise=True,
        # Detail-crop loss weight; the fused loss gets the remaining 0.9.
        hr_loss_weight=0.1),
    # Scale 1 = detail (full resolution), 0.5 = context (sorted internally to [0.5, 1]).
    scales=[1, 0.5],
    # Detail crop: half of the 1024x1024 training crop per side (a list in HRDA's file).
    hr_crop_size=[512, 512],
    # The ImageNet feature distance uses the context (LR) features, as DAFormer does.
    feature_scale=0.5,
    # Output stride 4 x context scale 0.5: crop offsets divisible by 8 keep both
    # predictions on the same grid when they are fused.
    crop_coord_divisible=8,
    # Pseudo-labels: the detail branch slides overlapping 512x512 tiles over the image.
    hr_slide_inference=True,
    # Test: overlapping 1024x1024 windows, all windows of an image in one batch.
    test_cfg=dict(
        mode='slide',
        batched_slide=True,
        stride=[512, 512],
        crop_size=[1024, 1024]))
data = dict(
    train=dict(
        # Rare class sampling. The crop must contain more than min_pixels * min_crop_ratio
        # pixels of the sampled class: 2.0 here vs 0.5 in DAFormer because the crop holds
        # 4x as many pixels at twice the resolution.
        rare_class_sampling=dict(
            min_pixels=3000, class_temp=0.01, min_crop_ratio=2.0),
        # Pseudo-label cropping v2 (HRDA): a mask of the rectification margins
        # (top, bottom, left, right; original Cityscapes pixels) is built before the
        # random crop and cropped with the image, so margins only count where the crop
        # actually reaches the image border.
        target=dict(crop_pseudo_margins=[30, 240, 30, 30]),
    ),
    # One data-loading worker per GPU; the batch size (2) comes from the dataset file.
    workers_per_gpu=1)
# The UDA step calls backward and the optimizer itself: no optimizer hook.
optimizer_config = None
optimizer = dict(
    lr=6e-05,
    paramwise_cfg=dict(
        # First key contained in the parameter name wins, checked in the order
        # pos_block, head, norm: decoder (incl. its norms) gets 10x lr; encoder norms
        # get no weight decay.
        custom_keys=dict(
            head=dict(lr_mult=10.0),
            pos_block=dict(decay_mult=0.0),
            norm=dict(decay_mult=0.0))))
n_gpus = 1
gpu_model = 'NVIDIATITANRTX'
runner = dict(type='IterBasedRunner', max_iters=40000)
# Keep only the final checkpoint; evaluate ten times during training.
checkpoint_config = dict(by_epoch=False, interval=40000, max_keep_ckpts=1)
evaluation = dict(interval=4000, metric='mIoU')
# Meta information (used for run names and result tables).
name = 'gtaHR2csHR_hrda_s1'
exp = 'basic'
name_dataset = 'gtaHR2cityscapesHR_1024x1024'
name_architecture = 'hrda1-512-0.1_daformer_sepaspp_sl_mitb5'
name_encoder = 'mitb5'
name_decoder = 'hrda1-512-0.1_daformer_sepaspp_sl'
name_uda = 'dacs_a999_fdthings_rcs0.01-2.0_cpl2'
name_opt = 'adamw_6e-05_pmTrue_poly10warm_1x2_40k'
