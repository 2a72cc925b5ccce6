# DAFormer on GTA -> Cityscapes at 512x512 (half Cityscapes resolution): warm-up schedule,
# thing-class feature distance, rare class sampling, pseudo-label crop, alpha 0.999.

_base_ = [
    '../_base_/default_runtime.py',
    # MiT-B5 encoder + DAFormer decoder (separable-ASPP fusion)
    '../_base_/models/daformer_sepaspp_mitb5.py',
    # GTA -> Cityscapes data at 512x512; test on whole 1024x512 images
    '../_base_/datasets/uda_gta_to_cityscapes_512x512.py',
    # plain DACS self-training; DAFormer's additions are set below
    '../_base_/uda/dacs.py',
    # AdamW
    '../_base_/schedules/adamw.py',
    # linear warm-up, then linear decay
    '../_base_/schedules/poly10warm.py'
]
seed = 0
uda = dict(
    # Slower teacher.
    alpha=0.999,
    # ImageNet feature distance on thing classes only.
    imnet_feature_dist_lambda=0.005,
    imnet_feature_dist_classes=[6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
    imnet_feature_dist_scale_min_ratio=0.75,
    # Pseudo-label crop v1: ignore the top 15 and bottom 120 rows of every target crop
    # (Cityscapes' rectification border and ego car at 512-pixel height).
    pseudo_weight_ignore_top=15,
    pseudo_weight_ignore_bottom=120)
data = dict(
    train=dict(
        # Rare class sampling; the crop needs > 3000 * 0.5 pixels of the sampled class.
        rare_class_sampling=dict(
            min_pixels=3000, class_temp=0.01, min_crop_ratio=0.5)))
# The UDA step calls backward and the optimizer itself: no optimizer hook.
optimizer_config = None
optimizer = dict(
    lr=6e-05,
    paramwise_cfg=dict(
        # Decoder: 10x lr; encoder norms: no weight decay (see configs/mic/ for the rule).
        custom_keys=dict(
            head=dict(lr_mult=10.0),
            pos_block=dict(decay_mult=0.0),
            norm=dict(decay_mult=0.0))))
n_gpus = 1
runner = dict(type='IterBasedRunner', max_iters=40000)
checkpoint_config = dict(by_epoch=False, interval=40000, max_keep_ckpts=1)
evaluation = dict(interval=4000, metric='mIoU')
# Meta information (used for run names and result tables).
name = 'gta2cs_uda_warm_fdthings_rcs_croppl_a999_daformer_mitb5_s0'
exp = 'basic'
name_dataset = 'gta2cityscapes'
name_architecture = 'daformer_sepaspp_mitb5'
name_encoder = 'mitb5'
name_decoder = 'daformer_sepaspp'
name_uda = 'dacs_a999_fd_things_rcs0.01_cpl'
name_opt = 'adamw_6e-05_pmTrue_poly10warm_1x2_40k'
