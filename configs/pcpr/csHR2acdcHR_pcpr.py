# PCPR on Cityscapes -> ACDC: MIC(HRDA) (configs/mic/csHR2acdcHR_mic_hrda.py) plus PCPR's uda
# block from configs/_base_/uda/pcpr.py, as configs/pcpr/gtaHR2csHR_pcpr.py.
import mmcv

_base_ = ['../mic/csHR2acdcHR_mic_hrda.py']
uda = mmcv.Config.fromfile('{{ fileDirname }}/../_base_/uda/pcpr.py').uda
mixed_precision = None  # MIC's fp32 numerics
name = 'csHR2acdcHR_pcpr_s2'
name_uda = 'pcpr_rcs0.01-2.0_m64-0.7-sep'
