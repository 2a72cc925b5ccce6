# PCPR with DINOv2 ViT-L/14 + ViT-Adapter: configs/vfm/csHR2acdcHR_mic_hrda_dinov2_vitl.py
# plus PCPR's uda block from configs/_base_/uda/pcpr.py, as configs/pcpr/csHR2acdcHR_pcpr.py puts it
# on configs/mic/csHR2acdcHR_mic_hrda.py. bf16 as the VFM MIC config. Not run here.
import mmcv

_base_ = ['./csHR2acdcHR_mic_hrda_dinov2_vitl.py']
uda = mmcv.Config.fromfile('{{ fileDirname }}/../_base_/uda/pcpr.py').uda
name = 'csHR2acdcHR_pcpr_dinov2_vitl_s2'
name_uda = 'pcpr_rcs0.01-2.0_m64-0.7-sep'
