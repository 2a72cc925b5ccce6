# PCPR variant: soft LR/HR consistency (the overlap of the two distributions) instead of the
# hard argmax agreement, so no pixel is dropped.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(consistency_mode='soft'))
name = 'synthetic_pretrained_pcpr_soft'
