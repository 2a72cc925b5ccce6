# PCPR on GTA -> Cityscapes: MIC(HRDA) (configs/mic/gtaHR2csHR_mic_hrda.py, unchanged) plus
# PCPR's uda block: type='PCPR', pseudo-label filtering (plf) and finer prototype
# construction (fpc), annotated in configs/_base_/uda/pcpr.py, their one home. mmcv does not
# allow `uda` in two `_base_` files, so the block is read from there and merged into MIC's uda.
import mmcv

_base_ = ['../mic/gtaHR2csHR_mic_hrda.py']
uda = mmcv.Config.fromfile('{{ fileDirname }}/../_base_/uda/pcpr.py').uda
# Future switch ('bf16' | 'fp16'); None keeps MIC's fp32 numerics.
mixed_precision = None
name = 'gtaHR2csHR_pcpr_s2'
name_uda = 'pcpr_rcs0.01-2.0_cpl2_m64-0.7-spta'
