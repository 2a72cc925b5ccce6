# Target oracle: the same segmentor and schedule, supervised on the labelled target train
# split (an upper bound that no UDA method can use).
_base_ = ['_base_/tiny_hrda.py', '_base_/synthetic_data.py', '_base_/schedule.py']
data = dict(train=dict(
    _delete_=True,
    type='CityscapesDataset',
    data_root='data/demo/cityscapes/',
    img_dir='leftImg8bit/train',
    ann_dir='gtFine/train',
    pipeline={{_base_.target_train_pipeline}}))
optimizer_config = dict()
seed = 0
name = 'synthetic_target_oracle'
