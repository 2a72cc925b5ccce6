# Ablation: PCPR with the soft scale consistency (overlap of the LR and HR distributions)
# instead of the hard argmax agreement, which zeroes every disagreeing pixel.
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=dict(consistency_mode='soft'))
name = 'synthetic_pcpr_soft'
