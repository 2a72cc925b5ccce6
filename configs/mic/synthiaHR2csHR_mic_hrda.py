# MIC(HRDA) on Synthia -> Cityscapes: HRDA (configs/hrda/synthiaHR2csHR_hrda.py) plus MIC's
# masked image consistency with the settings of configs/mic/gtaHR2csHR_mic_hrda.py (annotated
# there); the same setting as experiments.py id 80. Synthia lacks 3 of the 19 classes: report
# mIoU16 = mIoU19 * 19 / 16.

_base_ = ['../hrda/synthiaHR2csHR_hrda.py']
# MIC ships no Synthia config and names no median seed for it; 2 as for GTA.
seed = 2
model = dict(hr_crop_size=(512, 512))  # MIC's tuple (HRDA's file: a list)
uda = dict(
    mask_mode='separatetrgaug',
    mask_alpha='same',
    mask_pseudo_threshold='same',
    mask_lambda=1,
    mask_generator=dict(
        type='block', mask_ratio=0.7, mask_block_size=64, _delete_=True))
name = 'synthiaHR2csHR_mic_hrda_s2'
name_uda = 'dacs_a999_fdthings_rcs0.01-2.0_cpl2_m64-0.7-spta'
