# Ablation: PCPR with pseudo-label filtering only (no finer prototypes).
_base_ = ['pcpr_synthetic.py']
uda = dict(fpc=None)
name = 'synthetic_pcpr_plf_only'
