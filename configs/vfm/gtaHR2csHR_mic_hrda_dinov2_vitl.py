# MIC(HRDA) with a vision foundation model on GTA -> Cityscapes: configs/mic/gtaHR2csHR_mic_hrda.py
# (UDA, data, HRDA crops, schedule unchanged) with DINOv2 ViT-L/14 + ViT-Adapter in place of
# MiT-B5, and VFM-UDA++'s optimizer settings. Not run here: no number of this repository
# stands behind it (docs/models.md lists the published numbers it aims at).
#
# What it shares with VFM-UDA++ (Englert & Dubbelman 2025, cfgs/vfmudaplusplus_large_gta2city):
# DINOv2 ViT-L/14 with a ViT-Adapter, AdamW with lr 1e-5 and weight decay 0.01, encoder lr x0.1
# with layer decay 0.9, 1500 warm-up iterations and a linear decay over 40k iterations, EMA
# teacher 0.999, confidence threshold 0.968, MIC-style masking of 70 % of the target, rare class
# sampling, 2 source + 2 target images per GPU. What differs:
# - head: DAFormer's decoder inside HRDA (multi-resolution training: a 1024 context crop at
#   scale 0.5 plus a 512 detail crop, fused by scale attention, slide inference) instead of
#   their lightweight pyramid head on one 1024 crop resized to 1120 (80 x 14);
# - their ViT-Adapter starts from an ImageNet-1k pretraining of theirs; here it starts random;
# - masking: MIC's 64 px blocks of the image instead of their token masking;
# - feature distance: MIC's (below) instead of their distillation into DINOv2-reg features;
# - lr: they multiply lr by sqrt(total batch) (2.8e-5 at their 4 GPUs x 2), here lr is used as
#   written (1 GPU x 2); their last block gets lr x0.1 and each earlier block x0.9 more, here
#   the last block already gets x0.1 x 0.9 (MMSegmentation's rule, docs/config.md); they decay
#   every parameter by 0.01, here not norms, biases, tokens and the position embedding;
# - their source images get a strong colour augmentation and their teacher flip averaging;
#   neither is here (MIC's augmentation).
import mmcv

_base_ = ['../mic/gtaHR2csHR_mic_hrda.py']
# mmcv allows `model` in one `_base_` file only (here the MIC config's HRDA segmentor), so the
# VFM backbone is read from its model file and put into that segmentor (`__` names are not
# config keys).
__vfm = mmcv.Config.fromfile(
    '{{ fileDirname }}/../_base_/models/daformer_sepaspp_dinov2_vitl.py').model
model = dict(
    pretrained=__vfm.pretrained,
    backbone=dict(__vfm.backbone, _delete_=True),
    decode_head=dict(in_channels=__vfm.decode_head.in_channels))
uda = dict(
    # Feature distance to the frozen model: MIC's thing-class L2 distance of the stride-32 map,
    # here to the student's starting point (pretrained DINOv2 + the pyramid's initial weights).
    # It is this repository's analogue of VFM-UDA++'s feature distillation (weight 0.1 on
    # source and target, a cosine + smooth-L1 loss of a projection head against DINOv2-reg).
    # MIC's weight 0.005 is kept: the two losses have different scales (an unnormalised L2
    # norm over 1024 channels vs a bounded one), so their 0.1 does not transfer, and VFM-UDA
    # found MIC's feature distance to hurt with VFMs: 0 switches it off.
    imnet_feature_dist_lambda=0.005)
optimizer = dict(
    # VFM-UDA++'s base lr for ViT-L: the decode head and the ViT-Adapter train at 1e-5.
    lr=1e-05,
    # Layer-wise lr decay for the ViT (mmseg/core/runner/layer_decay_optimizer_constructor.py).
    constructor='LayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        # MIC's custom keys (head lr x10) are dropped: VFM-UDA++ trains the head at the base lr.
        _delete_=True,
        # ViT block i (of 24) gets lr * 0.1 * 0.9 ** (24 - i), the patch embedding
        # lr * 0.1 * 0.9 ** 25; no weight decay on norms, biases, tokens, position embedding.
        layer_decay_rate=0.9,
        encoder_lr_mult=0.1))
# bf16 autocast for the network passes (H100/A100-class GPUs); None restores MIC's fp32.
mixed_precision = 'bf16'
# Not run on any GPU here (MIC's TITAN RTX would not hold ViT-L at these crops; VFM-UDA++
# reports about 30 h for its ViT-L on one H100); None skips the memory check of check_setup.
gpu_model = None
# Meta information (used for run names and result tables).
name = 'gtaHR2csHR_mic_hrda_dinov2_vitl_s2'
name_architecture = 'hrda1-512-0.1_daformer_sepaspp_sl_dinov2_vitl'
name_encoder = 'dinov2_vitl'
name_opt = 'adamw_1e-05_ld0.9_em0.1_poly10warm_1x2_40k'
