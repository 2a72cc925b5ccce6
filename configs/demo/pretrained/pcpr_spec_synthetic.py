# PCPR as first defined (docs/method/pcpr.md): the filter's scale consistency and edge terms on.
# The shipped default (pcpr_synthetic.py) has both off, as this benchmark measured
# (docs/results/synthetic_benchmark.md); the filter variants of that study are built on this config.
_base_ = ['pcpr_synthetic.py']
uda = dict(plf=dict(use_consistency=True, use_edge=True))
name = 'synthetic_pretrained_pcpr_spec'
