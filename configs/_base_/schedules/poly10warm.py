# Linear warm-up over the first 1500 iterations, then linear ("poly", power 1) decay to 0.
# Note: mmcv multiplies the warm-up factor onto the already-decayed lr, as MIC does.
lr_config = dict(
    policy='poly',
    warmup='linear',
    warmup_iters=1500,
    warmup_ratio=1e-6,
    power=1.0,
    min_lr=0.0,
    by_epoch=False)
