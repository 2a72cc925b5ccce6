"""Shared fixtures of the performance tests: a tiny PCPR(MIC-HRDA) model and a random batch."""
import logging
import os.path as osp

import pytest
import torch
from mmcv.utils import Config

from mmseg.models.builder import build_train_model

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
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


def tiny_cfg(**top_level):
    """The tiny UDA config; keyword arguments set top-level keys (mixed_precision, ...)."""
    cfg = Config.fromfile(DEMO_PCPR)
    cfg.merge_from_dict(TINY_OVERRIDES)
    for key, value in top_level.items():
        cfg[key] = value
    return cfg


def build_tiny_uda(seed=0, **top_level):
    logging.getLogger('mmcv').setLevel(logging.WARNING)  # no per-parameter init report
    torch.manual_seed(seed)
    model = build_train_model(tiny_cfg(**top_level))
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


@pytest.fixture
def tiny_uda():
    return build_tiny_uda
