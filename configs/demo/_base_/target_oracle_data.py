# The synthetic data with the labelled target train split as the (supervised) training set:
# the target oracle's data, an upper bound that no UDA method can use.
_base_ = ['synthetic_data.py']
data = dict(train=dict(
    _delete_=True,
    type='CityscapesDataset',
    data_root='data/demo/cityscapes/',
    img_dir='leftImg8bit/train',
    ann_dir='gtFine/train',
    pipeline={{_base_.target_train_pipeline}}))
