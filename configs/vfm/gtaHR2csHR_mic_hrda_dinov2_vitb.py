# configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py (annotated there, with what differs from
# VFM-UDA++) with DINOv2 ViT-B/14: the backbone of
# configs/_base_/models/daformer_sepaspp_dinov2_vitb.py and VFM-UDA++'s lr for ViT-B, 5e-5
# (cfgs/vfmudaplusplus_base_gta2city; they train it with 4 images per GPU, here 2). Not run here.
import mmcv

_base_ = ['./gtaHR2csHR_mic_hrda_dinov2_vitl.py']
# mmcv allows `model` in one `_base_` file only: the ViT-B keys are read from the model file.
__vfm = mmcv.Config.fromfile(
    '{{ fileDirname }}/../_base_/models/daformer_sepaspp_dinov2_vitb.py').model
model = dict(
    pretrained=__vfm.pretrained,
    backbone=dict(__vfm.backbone, _delete_=True),
    decode_head=dict(in_channels=__vfm.decode_head.in_channels))
# Head and ViT-Adapter at 5e-5; ViT block i (of 12) at 5e-5 * 0.1 * 0.9 ** (12 - i).
optimizer = dict(lr=5e-05)
name = 'gtaHR2csHR_mic_hrda_dinov2_vitb_s2'
name_architecture = 'hrda1-512-0.1_daformer_sepaspp_sl_dinov2_vitb'
name_encoder = 'dinov2_vitb'
name_opt = 'adamw_5e-05_ld0.9_em0.1_poly10warm_1x2_40k'
