# PCPR on Synthia -> Cityscapes: MIC(HRDA) (configs/mic/synthiaHR2csHR_mic_hrda.py) plus
# PCPR's uda block from configs/_base_/uda/pcpr.py, as configs/pcpr/gtaHR2csHR_pcpr.py.
import mmcv

_base_ = ['../mic/synthiaHR2csHR_mic_hrda.py']
uda = mmcv.Config.fromfile('{{ fileDirname }}/../_base_/uda/pcpr.py').uda
mixed_precision = None  # MIC's fp32 numerics
name = 'synHR2csHR_pcpr_s2'
name_uda = 'pcpr_rcs0.01-2.0_cpl2_m64-0.7-spta'
