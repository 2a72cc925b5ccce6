# PCPR variant: the filter's weights renormalised per image to MIC's total (q * valid region),
# so the target loss keeps its strength and only its distribution over pixels changes.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(renormalize=True))
name = 'synthetic_pretrained_pcpr_renorm'
