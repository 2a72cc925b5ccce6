# PCPR on Cityscapes -> Dark Zurich (night): MIC(HRDA) (configs/mic/csHR2dzurHR_mic_hrda.py,
# the ACDC config with the Dark Zurich folders) plus PCPR's uda block from
# configs/_base_/uda/pcpr.py, as configs/pcpr/gtaHR2csHR_pcpr.py.
import mmcv

_base_ = ['../mic/csHR2dzurHR_mic_hrda.py']
uda = mmcv.Config.fromfile('{{ fileDirname }}/../_base_/uda/pcpr.py').uda
mixed_precision = None  # MIC's fp32 numerics
name = 'csHR2dzurHR_pcpr_s2'
name_uda = 'pcpr_rcs0.01-2.0_m64-0.7-sep'
