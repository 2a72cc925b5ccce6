"""Registries and builders of the model zoo (names as in MMSegmentation 0.x / MIC)."""
import warnings

from mmcv.cnn import MODELS as MMCV_MODELS
from mmcv.utils import Registry

from ..utils.errors import UserError

MODELS = Registry('models', parent=MMCV_MODELS)
BACKBONES = MODELS
NECKS = MODELS
HEADS = MODELS
LOSSES = MODELS
SEGMENTORS = MODELS
UDA = MODELS


def build_backbone(cfg):
    return BACKBONES.build(cfg)


def build_neck(cfg):
    return NECKS.build(cfg)


def build_head(cfg):
    return HEADS.build(cfg)


def build_loss(cfg):
    return LOSSES.build(cfg)


def build_segmentor(cfg, train_cfg=None, test_cfg=None):
    """Build a segmentor; train/test cfg belong in `cfg` (the arguments are MMSeg's legacy form)."""
    if train_cfg is not None or test_cfg is not None:
        warnings.warn('train_cfg and test_cfg are deprecated, please specify them in model',
                      UserWarning)
    assert cfg.get('train_cfg') is None or train_cfg is None, \
        'train_cfg specified in both outer field and model field '
    assert cfg.get('test_cfg') is None or test_cfg is None, \
        'test_cfg specified in both outer field and model field '
    return SEGMENTORS.build(cfg, default_args=dict(train_cfg=train_cfg, test_cfg=test_cfg))


def build_train_model(cfg):
    """Build the UDA wrapper when the config has `uda`, else a plain segmentor (as MIC does).

    The UDA model receives `cfg.model`, the run length `max_iters` and the top-level
    `mixed_precision` switch (None = fp32, as MIC) as arguments; `cfg` itself is not changed
    (MIC wrote them into `cfg.uda`).
    """
    if 'uda' not in cfg:
        return build_segmentor(cfg.model)
    if 'mixed_precision' in cfg.uda:
        raise UserError('uda.mixed_precision is not a uda key: set the top-level '
                        "`mixed_precision = 'bf16'` (or 'fp16', None) instead.")
    return UDA.build(dict(cfg.uda, model=cfg.model, max_iters=cfg.runner.max_iters,
                          mixed_precision=cfg.get('mixed_precision')))
