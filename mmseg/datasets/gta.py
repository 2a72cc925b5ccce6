"""GTA5 (source of GTA→Cityscapes), labels converted to Cityscapes train ids."""
from ..core.evaluation.class_names import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from .builder import DATASETS
from .custom import CustomDataset


@DATASETS.register_module()
class GTADataset(CustomDataset):
    """`images/<n>.png` with `labels/<n>_labelTrainIds.png`; no split files."""

    CLASSES = CITYSCAPES_CLASSES
    PALETTE = CITYSCAPES_PALETTE
    IMG_SUFFIX = '.png'
    SEG_MAP_SUFFIX = '_labelTrainIds.png'
    HAS_SPLITS = False
    CONVERTER = 'tools/convert_datasets/gta.py'
    LAYOUT = 'data/gta/images/<n>.png and data/gta/labels/<n>_labelTrainIds.png'
