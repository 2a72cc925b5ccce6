# Ablation: PCPR with finer prototype construction only (no pseudo-label filtering).
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=None)
name = 'synthetic_pcpr_fpc_only'
