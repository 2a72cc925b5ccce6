# MIC(HRDA) on the synthetic GTA-like -> Cityscapes-like benchmark.
_base_ = ['_base_/tiny_hrda.py', '_base_/synthetic_data.py', '_base_/mic_uda.py',
          '_base_/schedule.py']
seed = 0
name = 'synthetic_mic_hrda'
# The UDA step calls backward and the optimizer itself (as MIC): no optimizer hook.
optimizer_config = None
