# A short schedule for training from scratch on the synthetic data: a higher learning rate
# than MIC's 6e-5 (which assumes ImageNet weights) and a warm-up of 50 iterations.
_base_ = ['../../_base_/schedules/adamw.py', '../../_base_/schedules/poly10warm.py',
          '../../_base_/default_runtime.py']
optimizer = dict(
    lr=3e-4,
    paramwise_cfg=dict(custom_keys=dict(
        head=dict(lr_mult=10.0), pos_block=dict(decay_mult=0.0), norm=dict(decay_mult=0.0))))
lr_config = dict(warmup_iters=50)
runner = dict(type='IterBasedRunner', max_iters=600)
checkpoint_config = dict(by_epoch=False, interval=600, max_keep_ckpts=1)
evaluation = dict(interval=600, metric='mIoU')
log_config = dict(interval=50, img_interval=300)
cudnn_benchmark = False
mixed_precision = None
exp = 'demo'
