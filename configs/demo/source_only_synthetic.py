# Source-only baseline: the same segmentor and schedule, trained on the source only.
_base_ = ['mic_synthetic.py']
uda = dict(source_only=True, mask_mode=None, mask_lambda=0, mask_generator=None)
name = 'synthetic_source_only'
