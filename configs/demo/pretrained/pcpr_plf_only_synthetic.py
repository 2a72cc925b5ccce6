# PCPR ablation on the pretrained synthetic benchmark: pseudo-label filter (PLF) only.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(fpc=None)
name = 'synthetic_pretrained_pcpr_plf_only'
