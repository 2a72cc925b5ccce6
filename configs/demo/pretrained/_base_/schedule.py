# The schedule of the pretrained synthetic benchmark, scaled from MIC's 40k iterations: 300
# iterations, a 12-iteration warm-up (MIC: 1500 of 40k, 4 %) and a lower learning rate than
# the demo's from-scratch 3e-4, since the backbone starts from the stand-in's features (the
# head keeps MIC's 10x multiplier). One evaluation, at the end.
_base_ = ['../../_base_/schedule.py']
optimizer = dict(lr=2e-4)
lr_config = dict(warmup_iters=12)
runner = dict(max_iters=300)
checkpoint_config = dict(interval=300)
evaluation = dict(interval=300)
log_config = dict(interval=50, img_interval=300)
