# Runtime defaults shared by every experiment (MMSegmentation 0.16 + MIC's `img_interval`).

# yapf:disable
log_config = dict(
    interval=50,
    # MIC addition: the UDA step renders its debug images every `img_interval`
    # iterations (tools/train.py passes log_config on to the model's train_cfg).
    img_interval=1000,
    hooks=[
        dict(type='TextLoggerHook', by_epoch=False),
    ])
# yapf:enable
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
cudnn_benchmark = True
