# The spec's filter on FPC's target anchors only; every loss keeps MIC's weights (plf.apply_to).
_base_ = ['pcpr_spec_synthetic.py']
uda = dict(plf=dict(apply_to='anchors'))
name = 'synthetic_confident_pcpr_anchors'
