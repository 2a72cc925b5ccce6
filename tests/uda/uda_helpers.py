"""Tiny versions of the shipped MIC(HRDA)/PCPR configs and a synthetic UDA batch."""
import copy

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
