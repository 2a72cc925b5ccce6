# PCPR variant: the spec's filter (scale consistency and edge terms) only chooses which target
# pixels may be FPC's prototype anchors; every loss keeps MIC's weights (`plf.apply_to`), so the
# filter cannot take signal away from the target loss.
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(apply_to='anchors'))
name = 'synthetic_pretrained_pcpr_anchors'
