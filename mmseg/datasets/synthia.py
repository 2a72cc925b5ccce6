"""SYNTHIA-RAND-CITYSCAPES (source of Synthia→Cityscapes), labels as Cityscapes train ids."""
from ..core.evaluation.class_names import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from .builder import DATASETS
from .custom import CustomDataset


@DATASETS.register_module()
class SynthiaDataset(CustomDataset):
    """`RGB/<n>.png` with `GT/LABELS/<n>_labelTrainIds.png`; no split files.

    Terrain, truck and train never occur; evaluation on Cityscapes still uses 19 classes (see
    `CustomDataset.evaluate(class_subsets='synthia')` for mIoU16/mIoU13).
    """

    CLASSES = CITYSCAPES_CLASSES
    PALETTE = CITYSCAPES_PALETTE
    IMG_SUFFIX = '.png'
    SEG_MAP_SUFFIX = '_labelTrainIds.png'
    HAS_SPLITS = False
    CONVERTER = 'tools/convert_datasets/synthia.py'
    LAYOUT = 'data/synthia/RGB/<n>.png and data/synthia/GT/LABELS/<n>_labelTrainIds.png'
