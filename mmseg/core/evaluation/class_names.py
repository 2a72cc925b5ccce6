"""Class names and palettes of the datasets (Cityscapes' 19 train classes are shared by all)."""

CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                      'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                      'truck', 'bus', 'train', 'motorcycle', 'bicycle')

CITYSCAPES_PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156],
                      [190, 153, 153], [153, 153, 153], [250, 170, 30], [220, 220, 0],
                      [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
                      [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100],
                      [0, 0, 230], [119, 11, 32]]

# Synthia has no terrain, truck or train: MIC evaluates 19 classes and reports mIoU16 = mIoU19*19/16;
# the 13-class protocol further drops wall, fence and pole.
SYNTHIA_ABSENT_CLASSES = (9, 14, 16)
SYNTHIA_13_EXCLUDED_CLASSES = (3, 4, 5) + SYNTHIA_ABSENT_CLASSES


def cityscapes_classes():
    return list(CITYSCAPES_CLASSES)


def cityscapes_palette():
    return [list(c) for c in CITYSCAPES_PALETTE]


_ALIASES = {'cityscapes': ['cityscapes'], 'gta': ['gta'], 'synthia': ['synthia'],
            'acdc': ['acdc'], 'dark_zurich': ['dark_zurich', 'darkzurich']}


def get_classes(dataset):
    """Class names of a dataset given by name (all share Cityscapes' 19 classes)."""
    if not any(dataset.lower() in names for names in _ALIASES.values()):
        raise ValueError(f'Unrecognized dataset: {dataset}')
    return cityscapes_classes()


def get_palette(dataset):
    if not any(dataset.lower() in names for names in _ALIASES.values()):
        raise ValueError(f'Unrecognized dataset: {dataset}')
    return cityscapes_palette()
