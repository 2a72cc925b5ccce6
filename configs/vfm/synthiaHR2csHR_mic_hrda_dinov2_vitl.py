# MIC(HRDA) with DINOv2 ViT-L/14 + ViT-Adapter on Synthia -> Cityscapes:
# configs/mic/synthiaHR2csHR_mic_hrda.py with the backbone, feature distance, optimizer and
# precision of configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py (annotated there, with what
# differs from VFM-UDA++). Not run here. Report mIoU16 = mIoU19 * 19 / 16.
import mmcv

_base_ = ['../mic/synthiaHR2csHR_mic_hrda.py']
# The VFM keys of the GTA config (mmcv allows `model` etc. in one `_base_` file only).
__vfm = mmcv.Config.fromfile('{{ fileDirname }}/gtaHR2csHR_mic_hrda_dinov2_vitl.py')
model = dict(
    pretrained=__vfm.model.pretrained,
    backbone=dict(__vfm.model.backbone, _delete_=True),
    decode_head=dict(in_channels=__vfm.model.decode_head.in_channels))
uda = dict(imnet_feature_dist_lambda=__vfm.uda.imnet_feature_dist_lambda)
optimizer = dict(__vfm.optimizer, paramwise_cfg=dict(__vfm.optimizer.paramwise_cfg, _delete_=True))
mixed_precision = __vfm.mixed_precision
gpu_model = __vfm.gpu_model
name = 'synthiaHR2csHR_mic_hrda_dinov2_vitl_s2'
name_architecture = __vfm.name_architecture
name_encoder = __vfm.name_encoder
name_opt = __vfm.name_opt
