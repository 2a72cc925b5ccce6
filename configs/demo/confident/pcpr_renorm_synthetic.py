# The spec's filter with each image's weights renormalised to MIC's total.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(renormalize=True))
name = 'synthetic_confident_pcpr_renorm'
