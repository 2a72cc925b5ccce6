# MIC(HRDA) with DeepLabV2 (ResNet-101) on GTA -> Cityscapes: MIC's Table 1 row
# "MIC + HRDA, DeepLabV2" (experiments.py id 81, seed 0 here; MIC ran seeds 0, 1, 2).
# Same UDA, data and schedule as configs/mic/gtaHR2csHR_mic_hrda.py; only the network differs.

_base_ = [
    '../_base_/default_runtime.py',
    # DeepLabV2: dilated ResNet V1c (output stride 8) + ASPP-sum classifier with rates 6, 12
    '../_base_/models/deeplabv2red_r50-d8.py',
    # GTA -> Cityscapes data at full resolution (1024x1024 crops)
    '../_base_/datasets/uda_gtaHR_to_cityscapesHR_1024x1024.py',
    # DAFormer self-training: teacher alpha 0.999 + thing-class ImageNet feature distance
    '../_base_/uda/dacs_a999_fdthings.py',
    # AdamW
    '../_base_/schedules/adamw.py',
    # linear warm-up, then linear decay
    '../_base_/schedules/poly10warm.py'
]
seed = 0
model = dict(
    type='HRDAEncoderDecoder',
    # ResNet-101 V1c with open-mmlab's ImageNet weights (downloaded on first use).
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101),
    decode_head=dict(
        type='HRDAHead',
        # Each scale is decoded by the DeepLabV2 classifier of the base model file; the
        # scale attention is a second one (output stride 8).
        single_scale_head='DLV2Head',
        attention_classwise=True,
        # Detail-crop loss weight; the fused loss gets the remaining 0.9.
        hr_loss_weight=0.1),
    # Scale 1 = detail, 0.5 = context (sorted internally to [0.5, 1]).
    scales=[1, 0.5],
    hr_crop_size=(512, 512),
    # The ImageNet feature distance uses the context (LR) features.
    feature_scale=0.5,
    # MIC keeps 8 for DeepLabV2 too (output stride 8 x context scale 0.5 would be 16; the
    # LR crop mask is then truncated to the 16-pixel grid, as in MIC).
    crop_coord_divisible=8,
    hr_slide_inference=True,
    test_cfg=dict(
        mode='slide',
        batched_slide=True,
        stride=[512, 512],
        crop_size=[1024, 1024]))
data = dict(
    train=dict(
        rare_class_sampling=dict(
            min_pixels=3000, class_temp=0.01, min_crop_ratio=2.0),
        # Pseudo-label cropping v2 (HRDA), see configs/mic/gtaHR2csHR_mic_hrda.py.
        target=dict(crop_pseudo_margins=[30, 240, 30, 30]),
    ),
    workers_per_gpu=1,
    samples_per_gpu=2,
)
# Masked image consistency (MIC): 70% of the 64x64 patches of the target image dropped.
uda = dict(
    mask_mode='separatetrgaug',
    mask_alpha='same',
    mask_pseudo_threshold='same',
    mask_lambda=1,
    mask_generator=dict(
        type='block', mask_ratio=0.7, mask_block_size=64, _delete_=True))
optimizer_config = None
# Decoder ('head' in the parameter name): 10x lr. No norm/pos_block rules: those are for
# the MiT encoder only in MIC.
optimizer = dict(
    lr=6e-05, paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.0))))
n_gpus = 1
gpu_model = 'NVIDIATITANRTX'
runner = dict(type='IterBasedRunner', max_iters=40000)
checkpoint_config = dict(by_epoch=False, interval=40000, max_keep_ckpts=1)
evaluation = dict(interval=4000, metric='mIoU')
# Meta information (used for run names and result tables), as MIC's experiments.py.
name = 'gtaHR2csHR_mic_hrda_dlv2red_s0'
exp = 'basic'
name_dataset = 'gtaHR2cityscapesHR_1024x1024'
name_architecture = 'hrda1-512-0.1_dlv2red_sl_r101v1c'
name_encoder = 'r101v1c'
name_decoder = 'hrda1-512-0.1_dlv2red_sl'
name_uda = 'dacs_a999_fdthings_rcs0.01-2.0_cpl2_m64-0.7-spta'
name_opt = 'adamw_6e-05_pmTrue_poly10warm_1x2_40k'
