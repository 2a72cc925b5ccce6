"""Tiny versions of the shipped MIC(HRDA)/PCPR configs and a synthetic UDA batch."""
import copy
import logging
import os.path as osp

import torch
from mmcv import Config

from mmseg.models import build_train_model

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def tiny_cfg(config='configs/mic/gtaHR2csHR_mic_hrda.py', keep_mask_generator=False, **uda):
    """A config (path or loaded `Config`) with MiT-B0, a 32-channel head and, for HRDA, 64 px
    detail crops; MIC's block mask shrinks to 16 px unless `keep_mask_generator`."""
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    cfg.model.pretrained = None
    cfg.model.backbone = dict(type='mit_b0', style='pytorch')
    head = cfg.model.decode_head
    head.in_channels = [32, 64, 160, 256]
    head.channels = 32
    head.decoder_params.embed_dims = 32
    if cfg.model.type == 'HRDAEncoderDecoder':
        head.attention_embed_dim = 32
        cfg.model.hr_crop_size = (64, 64)
    cfg.model.test_cfg = dict(mode='whole')
    cfg.model.train_cfg = dict()
    # Random weights never reach MIC's 0.968 confidence: a low threshold exercises the weights.
    cfg.uda.pseudo_threshold = 0.1
    if not keep_mask_generator:
        cfg.uda.mask_generator = dict(type='block', mask_ratio=0.7, mask_block_size=16)
    if cfg.uda.get('fpc'):
        cfg.uda.fpc.update(proj_dim=16, proto_start_iter=0, min_views=2, num_prototypes=2)
    cfg.uda.update(uda)
    return cfg


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = build_train_model(copy.deepcopy(cfg))
    model.init_weights()
    return model


def batch(seed=0, size=128, batch_size=2):
    """A UDA batch whose source labels hold large thing-class blocks (the feature distance
    needs 64x64 cells that are >= 75 % one thing class)."""
    g = torch.Generator().manual_seed(seed)
    meta = dict(img_norm_cfg=NORM, img_shape=(size, size, 3), ori_shape=(size, size, 3),
                pad_shape=(size, size, 3), flip=False, scale_factor=1.0)
    gt = torch.randint(0, 19, (batch_size, 1, size, size), generator=g)
    gt[:, :, :, :size // 2] = 13  # car
    gt[:, :, :size // 4, size // 2:] = 10  # sky
    return dict(img=torch.randn(batch_size, 3, size, size, generator=g),
                img_metas=[dict(meta) for _ in range(batch_size)],
                gt_semantic_seg=gt,
                target_img=torch.randn(batch_size, 3, size, size, generator=g),
                target_img_metas=[dict(meta) for _ in range(batch_size)],
                valid_pseudo_mask=torch.ones(batch_size, 1, size, size, dtype=torch.uint8))


def seed_all(seed=0):
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def student_grads(model):
    return {n: p.grad.clone() for n, p in model.get_model().named_parameters()
            if p.grad is not None}


# The performance tests' tiny model and batch.
REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
DEMO_PCPR = osp.join(REPO, 'configs', 'demo', 'pcpr_synthetic.py')

# The demo PCPR config (MiT-B0 HRDA, PLF, FPC, MIC) thinned to 32 channels and 64 px crops,
# with the ImageNet feature distance on and every pixel confident, so that all passes run.
TINY_OVERRIDES = {
    'model.decode_head.channels': 32,
    'model.decode_head.attention_embed_dim': 32,
    'model.decode_head.decoder_params.embed_dims': 32,
    'model.hr_crop_size': (32, 32),
    'model.test_cfg.crop_size': [64, 64],
    'model.test_cfg.stride': [32, 32],
    'uda.pseudo_threshold': 0.0,
    'uda.imnet_feature_dist_lambda': 0.005,
    'uda.imnet_feature_dist_classes': [6, 7, 11, 12, 13, 14, 15, 16, 17, 18],
    'uda.imnet_feature_dist_scale_min_ratio': 0.75,
    'uda.fpc.proj_dim': 32,
    'uda.fpc.proto_start_iter': 0,
    'uda.fpc.min_views': 2,
    'uda.mask_generator.mask_block_size': 8,
}
SIZE = 64


def tiny_pcpr_cfg(**top_level):
    """The tiny UDA config; keyword arguments set top-level keys (mixed_precision, ...)."""
    cfg = Config.fromfile(DEMO_PCPR)
    cfg.merge_from_dict(TINY_OVERRIDES)
    for key, value in top_level.items():
        cfg[key] = value
    return cfg


def build_tiny_uda(seed=0, **top_level):
    logging.getLogger('mmcv').setLevel(logging.WARNING)  # no per-parameter init report
    torch.manual_seed(seed)
    model = build_train_model(tiny_pcpr_cfg(**top_level))
    model.init_weights()
    return model


def random_batch(seed=1, batch=2, size=SIZE, device='cpu'):
    """Random images; each source image is one thing class (so the stride-32 ImageNet feature
    distance has a pure cell), target labels are constant on 16 px blocks."""
    gen = torch.Generator().manual_seed(seed)
    norm = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
    metas = [dict(ori_shape=(size, size, 3), img_shape=(size, size, 3),
                  pad_shape=(size, size, 3), flip=False, img_norm_cfg=norm)
             for _ in range(batch)]

    def labels(block):
        coarse = torch.randint(0, 19, (batch, 1, size // block, size // block), generator=gen)
        return coarse.repeat_interleave(block, 2).repeat_interleave(block, 3).to(device)

    source = torch.tensor([11, 13] * batch)[:batch].view(batch, 1, 1, 1).expand(
        batch, 1, size, size).to(device)
    return dict(img=torch.randn(batch, 3, size, size, generator=gen).to(device), img_metas=metas,
                gt_semantic_seg=source.clone(),
                target_img=torch.randn(batch, 3, size, size, generator=gen).to(device),
                target_img_metas=metas, target_gt_semantic_seg=labels(16))
