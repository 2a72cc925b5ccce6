# PCPR variant (second wave): region prototypes, one extra anchor per class region.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(fpc=dict(granularity='region'))
name = 'synthetic_pretrained_pcpr_region'
