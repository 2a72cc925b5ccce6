# MIC(HRDA)'s UDA settings (configs/mic/gtaHR2csHR_mic_hrda.py) for the synthetic benchmark:
# the teacher momentum is 0.99 because the run is 600 instead of 40k iterations, the ImageNet
# feature distance is off (there are no ImageNet weights) and the MIC blocks are 16 px
# (MIC: 64 px blocks in 1024 px crops; here 1/8 of the 128 px crop as well).
_base_ = ['../../_base_/uda/dacs.py']
uda = dict(
    alpha=0.99,
    mask_mode='separatetrgaug',
    mask_alpha='same',
    mask_pseudo_threshold='same',
    mask_lambda=1,
    mask_generator=dict(type='block', mask_ratio=0.7, mask_block_size=16, _delete_=True))
