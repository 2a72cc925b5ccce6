# Ablation: PCPR with the spec's filter, its scale consistency soft (overlap of the LR and HR
# distributions) instead of the hard argmax agreement, which zeroes every disagreeing pixel.
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=dict(use_consistency=True, consistency_mode='soft', use_edge=True))
name = 'synthetic_pcpr_soft'
