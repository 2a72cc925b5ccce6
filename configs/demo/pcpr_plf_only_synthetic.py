# Ablation: PCPR with the spec's pseudo-label filter only (no finer prototypes).
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=dict(use_consistency=True, use_edge=True), fpc=None)
name = 'synthetic_pcpr_plf_only'
