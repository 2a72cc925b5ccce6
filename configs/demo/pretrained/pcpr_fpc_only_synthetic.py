# PCPR ablation on the pretrained synthetic benchmark: prototypes (FPC) only, no filter.
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=None)
name = 'synthetic_pretrained_pcpr_fpc_only'
