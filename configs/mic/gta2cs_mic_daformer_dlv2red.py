# MIC(DAFormer) with DeepLabV2 (ResNet-101) on GTA -> Cityscapes at 512x512: MIC's Table 1
# row "MIC + DAFormer, DeepLabV2" (experiments.py id 81, seed 0 here; MIC ran seeds 0, 1, 2).

_base_ = [
    '../_base_/default_runtime.py',
    # DeepLabV2: dilated ResNet V1c (output stride 8) + ASPP-sum classifier with rates 6, 12
    '../_base_/models/deeplabv2red_r50-d8.py',
    # GTA -> Cityscapes data at 512x512; test on whole 1024x512 images
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    # DAFormer self-training: teacher alpha 0.999 + thing-class ImageNet feature distance
    '../_base_/uda/dacs_a999_fdthings.py',
    # AdamW
    '../_base_/schedules/adamw.py',
    # linear warm-up, then linear decay
    '../_base_/schedules/poly10warm.py'
]
seed = 0
model = dict(
    # ResNet-101 V1c with open-mmlab's ImageNet weights (downloaded on first use).
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101))
data = dict(
    train=dict(
        rare_class_sampling=dict(
            min_pixels=3000, class_temp=0.01, min_crop_ratio=0.5)),
    workers_per_gpu=1,
    samples_per_gpu=2)
uda = dict(
    # Pseudo-label crop v1: ignore the top 15 and bottom 120 rows of every target crop.
    pseudo_weight_ignore_top=15,
    pseudo_weight_ignore_bottom=120,
    # Masked image consistency (MIC) with half the patch size at half the resolution.
    mask_mode='separatetrgaug',
    mask_alpha='same',
    mask_pseudo_threshold='same',
    mask_lambda=1,
    mask_generator=dict(
        type='block', mask_ratio=0.7, mask_block_size=32, _delete_=True))
optimizer_config = None
# Decoder ('head' in the parameter name): 10x lr.
optimizer = dict(
    lr=6e-05, paramwise_cfg=dict(custom_keys=dict(head=dict(lr_mult=10.0))))
n_gpus = 1
gpu_model = 'NVIDIAGeForceRTX2080Ti'
runner = dict(type='IterBasedRunner', max_iters=40000)
checkpoint_config = dict(by_epoch=False, interval=40000, max_keep_ckpts=1)
evaluation = dict(interval=4000, metric='mIoU')
# Meta information (used for run names and result tables), as MIC's experiments.py.
name = 'gta2cs_mic_daformer_dlv2red_s0'
exp = 'basic'
name_dataset = 'gta2cityscapes'
name_architecture = 'dlv2red_r101v1c'
name_encoder = 'r101v1c'
name_decoder = 'dlv2red'
name_uda = 'dacs_a999_fdthings_rcs0.01_cpl_m32-0.7-spta'
name_opt = 'adamw_6e-05_pmTrue_poly10warm_1x2_40k'
