# Runtime defaults shared by every experiment (MMSegmentation 0.16 + MIC's `img_interval`).

# yapf:disable
log_config = dict(
    interval=50,
    # MIC addition: the UDA step renders its debug images every `img_interval`
    # iterations (tools/train.py passes log_config on to the model's train_cfg).
    img_interval=1000,
    hooks=[
        dict(type='TextLoggerHook', by_epoch=False),
        # Addition: every logged scalar (losses, plf/fpc statistics, learning rate) for
        # TensorBoard, in <work_dir>/tf_logs (`tensorboard --logdir work_dirs`).
        dict(type='TensorboardLoggerHook', by_epoch=False),
    ])
# yapf:enable
# Addition: <work_dir>/run_summary.png at the end of training (loss terms, mIoU, plf
# statistics, lr); `custom_hooks = []` switches it off.
custom_hooks = [dict(type='RunSummaryHook', priority='VERY_LOW')]
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
cudnn_benchmark = True
