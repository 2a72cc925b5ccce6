"""Every config of configs/vfm/ builds its UDA model and trains one iteration with its backbone
shrunk to a tiny random ViT.

The configs' ViT-L/B (300M/86M parameters) cannot run in a test, so the timm model keeps its
family (DINOv2, patch 14) and the config's pyramid (ViT-Adapter) but gets 64 channels, 4 blocks
and 2 heads; everything else is the shipped config (UDA method, HRDA, bf16 autocast, the
layer-decay optimizer, MIC's feature distance to a frozen copy of the ViT) at 128 px crops.
"""
import glob
import os

import pytest
import torch
from mmcv import Config
from mmcv.runner import build_optimizer

from uda_helpers import REPO, batch, build, seed_all, tiny_cfg

VFM_CONFIGS = sorted(os.path.relpath(path, REPO)
                     for path in glob.glob(os.path.join(REPO, 'configs', 'vfm', '*.py')))
TINY_DIM = 64
TINY_VIT = dict(embed_dim=TINY_DIM, depth=4, num_heads=2, img_size=56)
# The loss terms of every pass: MIC(HRDA)'s (source, mixed, masked, feature distance) and, for
# PCPR, the prototype losses of the source and mixed passes.
MIC_LOSSES = {'decode.loss_seg', 'mix.decode.loss_seg', 'masked.decode.loss_seg',
              'src.loss_imnet_feat_dist'}
PCPR_LOSSES = MIC_LOSSES | {'src.fpc.loss_cont', 'mix.fpc.loss_cont'}


def tiny_vfm_cfg(path):
    """The config with a 4-block, 64-channel random ViT of the same family and pyramid, and
    tiny_cfg's head width, HR crops and mask blocks."""
    cfg = Config.fromfile(os.path.join(REPO, path))
    backbone = cfg.model.backbone
    cfg = tiny_cfg(cfg)
    cfg.model.backbone = dict(backbone, pretrained=None, model_kwargs=TINY_VIT,
                              out_indices=(0, 1, 2, 3),
                              pyramid=dict(backbone.pyramid, out_channels=TINY_DIM))
    cfg.model.decode_head.in_channels = [TINY_DIM] * 4
    return cfg


def test_the_folder_holds_the_mic_and_pcpr_configs_of_the_foundation_models():
    assert len(VFM_CONFIGS) == 7
    assert {Config.fromfile(os.path.join(REPO, p)).uda.type for p in VFM_CONFIGS} == \
        {'DACS', 'PCPR'}


@pytest.mark.parametrize('path', VFM_CONFIGS)
def test_config_trains_one_iteration_with_a_tiny_vit_and_finite_losses(path):
    cfg = tiny_vfm_cfg(path)
    assert cfg.model.backbone['type'] == 'TimmViT' and cfg.mixed_precision == 'bf16'
    model = build(cfg)
    optimizer = build_optimizer(model, cfg.optimizer)
    inputs = batch()
    if 'crop_pseudo_margins' not in cfg.data.train.get('target', {}):
        inputs['valid_pseudo_mask'] = None  # as the data loader, which has no margins then
    seed_all()
    outputs = model.train_step(inputs, optimizer)
    losses = {k: v for k, v in outputs['log_vars'].items() if 'loss' in k}
    expected = PCPR_LOSSES if cfg.uda.type == 'PCPR' else MIC_LOSSES
    assert expected <= set(losses), sorted(losses)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in losses.values()), losses
    student = model.get_model()
    assert all(torch.isfinite(p).all() for p in student.parameters())
    assert student.backbone.vit.blocks[-1].attn.qkv.weight.grad is not None
