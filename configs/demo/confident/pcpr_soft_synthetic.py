# The spec's filter with the soft LR/HR consistency (no pixel dropped).
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(consistency_mode='soft'))
name = 'synthetic_confident_pcpr_soft'
