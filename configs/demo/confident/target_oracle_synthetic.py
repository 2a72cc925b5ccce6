# Target oracle on the confident-teacher variant (see mic_synthetic.py): the same schedule.
_base_ = ['../pretrained/target_oracle_synthetic.py']
runner = dict(max_iters=1200)
lr_config = dict(warmup_iters=48)
checkpoint_config = dict(interval=1200)
evaluation = dict(interval=1200)
log_config = dict(img_interval=1200)
name = 'synthetic_confident_target_oracle'
