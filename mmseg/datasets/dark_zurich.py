"""Dark Zurich (night-time; target of Cityscapes→DarkZurich)."""
from .builder import DATASETS
from .cityscapes import CityscapesDataset


@DATASETS.register_module()
class DarkZurichDataset(CityscapesDataset):
    """`rgb_anon/train/night/**/*_rgb_anon.png` (no labels) and `rgb_anon/val`, `gt/val` with
    `*_gt_labelTrainIds.png` (shipped; no converter); 1080×1920 images."""

    IMG_SUFFIX = '_rgb_anon.png'
    SEG_MAP_SUFFIX = '_gt_labelTrainIds.png'
    CONVERTER = None
    LAYOUT = ('data/dark_zurich/rgb_anon/{train/night,val}/ and '
              'data/dark_zurich/gt/val/*_gt_labelTrainIds.png')
    VALID_MASK_SIZE = (1080, 1920)
