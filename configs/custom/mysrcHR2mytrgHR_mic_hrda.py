# Example: MIC(HRDA) on your own source -> target pair, both in the Cityscapes layout
#   data/my_source/leftImg8bit/train/<city>/<name>_leftImg8bit.png   (labelled source)
#   data/my_source/gtFine/train/<city>/<name>_gtFine_labelIds.png    (Cityscapes label ids)
#   data/my_target/leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png
#   data/my_target/gtFine/val/<city>/<name>_gtFine_labelIds.png      (for evaluation only)
# Prepare both with the Cityscapes converter, which writes the *_labelTrainIds.png files and,
# for the source, the rare-class-sampling stats (sample_class_stats.json, samples_with_class.json):
#   python tools/convert_datasets/cityscapes.py data/my_source
#   python tools/convert_datasets/cityscapes.py data/my_target
# then check and train:
#   python tools/check_setup.py configs/custom/mysrcHR2mytrgHR_mic_hrda.py
#   python tools/train.py configs/custom/mysrcHR2mytrgHR_mic_hrda.py
# Everything else (model, MIC, schedule) is configs/mic/csHR2acdcHR_mic_hrda.py, whose source is
# already Cityscapes; the target is read like Cityscapes (2048x1024; its train labels are loaded
# as MIC does for Cityscapes targets, for debug images only, never for training).

_base_ = ['../mic/csHR2acdcHR_mic_hrda.py']
source = dict(type='CityscapesDataset', data_root='data/my_source/')
target = dict(type='CityscapesDataset', data_root='data/my_target/')
target_val = dict(target, img_dir='leftImg8bit/val', ann_dir='gtFine/val')
# Validation at Cityscapes' full resolution (the ACDC base tests at 1920x1080).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(2048, 1024), flip=False,
         transforms=[
             dict(type='Resize', keep_ratio=True),
             dict(type='RandomFlip'),
             dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                  to_rgb=True),
             dict(type='ImageToTensor', keys=['img']),
             dict(type='Collect', keys=['img']),
         ])
]
data = dict(
    train=dict(
        source=dict(img_dir='leftImg8bit/train', ann_dir='gtFine/train', **source),
        target=dict(img_dir='leftImg8bit/train', ann_dir='gtFine/train',
                    pipeline={{_base_.cityscapes_train_pipeline}}, **target)),
    val=dict(pipeline=test_pipeline, **target_val),
    test=dict(pipeline=test_pipeline, **target_val))
name = 'mysrcHR2mytrgHR_mic_hrda_s2'
name_dataset = 'mysourceHR2mytargetHR_1024x1024'
