"""ACDC (adverse conditions; target of Cityscapes→ACDC)."""
from .builder import DATASETS
from .cityscapes import CityscapesDataset


@DATASETS.register_module()
class ACDCDataset(CityscapesDataset):
    """`rgb_anon/{train,val}/*_rgb_anon.png` with `gt/{train,val}/*_gt_labelTrainIds.png`
    (train-id labels are shipped; no converter); 1080×1920 images."""

    IMG_SUFFIX = '_rgb_anon.png'
    SEG_MAP_SUFFIX = '_gt_labelTrainIds.png'
    CONVERTER = None
    LAYOUT = ('data/acdc/rgb_anon/{train,val}/*_rgb_anon.png and '
              'data/acdc/gt/{train,val}/*_gt_labelTrainIds.png (flattened as in the README)')
    VALID_MASK_SIZE = (1080, 1920)
