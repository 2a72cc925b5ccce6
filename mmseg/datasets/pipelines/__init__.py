from .compose import Compose
from .formatting import DEFAULT_META_KEYS, Collect, DefaultFormatBundle, ImageToTensor
from .loading import LoadAnnotations, LoadImageFromFile, LoadPseudoLabels, check_label_ids
from .test_time_aug import MultiScaleFlipAug
from .transforms import (Normalize, Pad, PhotoMetricDistortion, RandomCrop, RandomFlip,
                         Resize)

__all__ = [
    'Compose', 'DEFAULT_META_KEYS', 'Collect', 'DefaultFormatBundle', 'ImageToTensor',
    'LoadAnnotations', 'LoadImageFromFile', 'LoadPseudoLabels', 'check_label_ids',
    'MultiScaleFlipAug', 'Normalize', 'Pad', 'PhotoMetricDistortion', 'RandomCrop', 'RandomFlip',
    'Resize'
]
