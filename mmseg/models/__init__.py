from .backbones import *  # noqa: F401,F403
from .builder import (BACKBONES, HEADS, LOSSES, NECKS, SEGMENTORS, UDA, build_backbone,
                      build_head, build_loss, build_neck, build_segmentor, build_train_model)
from .decode_heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .uda import *  # noqa: F401,F403

__all__ = ['BACKBONES', 'HEADS', 'LOSSES', 'NECKS', 'SEGMENTORS', 'UDA', 'build_backbone',
           'build_head', 'build_loss', 'build_neck', 'build_segmentor', 'build_train_model']
