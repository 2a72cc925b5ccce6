# Ablation: PCPR whose pseudo-label filter uses the edge weight only (no scale consistency).
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=dict(use_consistency=False, use_edge=True))
name = 'synthetic_pcpr_edge_only'
