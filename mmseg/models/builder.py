"""Registries and builders of the model zoo (names as in MMSegmentation 0.x / MIC)."""
import warnings

from mmcv.cnn import MODELS as MMCV_MODELS
from mmcv.utils import Registry

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

    The UDA model receives a copy of `cfg.model`, the run length `max_iters` and the
    top-level `mixed_precision` switch (None = fp32, as MIC).
    """
    if 'uda' in cfg:
        cfg.uda['model'] = cfg.model
        cfg.uda['max_iters'] = cfg.runner.max_iters
        cfg.uda['mixed_precision'] = cfg.get('mixed_precision')
        return UDA.build(cfg.uda)
    return build_segmentor(cfg.model)
