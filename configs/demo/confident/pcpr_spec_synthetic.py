# PCPR as first defined (the filter's scale consistency and edge terms on) on the
# confident-teacher variant; the filter arms of the study are built on it.
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=dict(use_consistency=True, use_edge=True))
name = 'synthetic_confident_pcpr_spec'
