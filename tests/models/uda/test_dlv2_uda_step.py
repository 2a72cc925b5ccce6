"""MIC's DeepLabV2 experiment configs run a full MIC training step (narrow ResNet, tiny input)."""
import os

import pytest
import torch
from mmcv import Config
from mmcv.runner import build_optimizer

from mmseg.models import build_train_model

from models_helpers import NARROW, uda_batch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))  # tests/<a>/<b>/ -> the repository


def narrow_uda_cfg(name: str) -> Config:
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'mic', name))
    cfg.model.pretrained = None
    cfg.model.backbone.update(NARROW, depth=50)
    cfg.model.decode_head.in_channels = NARROW['base_channels'] * 8 * 4
    if cfg.model.type == 'HRDAEncoderDecoder':
        cfg.model.hr_crop_size = (32, 32)
    cfg.model.test_cfg = dict(mode='whole')
    # Random DeepLabV2 logits are near-uniform: threshold 0 makes every pseudo-label count.
    cfg.uda.pseudo_threshold = 0.0
    cfg.uda.mask_generator = dict(type='block', mask_ratio=0.7, mask_block_size=8)
    if cfg.uda.get('pseudo_weight_ignore_bottom'):
        # The 15/120 row margins are for 512 px crops; they would blank a 64 px one.
        cfg.uda.update(pseudo_weight_ignore_top=2, pseudo_weight_ignore_bottom=15)
    return cfg


@pytest.mark.parametrize('name,losses', [
    ('gtaHR2csHR_mic_hrda_dlv2red.py',
     {'decode.loss_seg', 'decode.hr.loss_seg', 'src.loss_imnet_feat_dist', 'mix.decode.loss_seg',
      'mix.decode.hr.loss_seg', 'masked.decode.loss_seg', 'masked.decode.hr.loss_seg'}),
    ('gta2cs_mic_daformer_dlv2red.py',
     {'decode.loss_seg', 'src.loss_imnet_feat_dist', 'mix.decode.loss_seg',
      'masked.decode.loss_seg'}),
])
def test_mic_dlv2_config_trains_one_step_with_every_loss(name, losses):
    cfg = narrow_uda_cfg(name)
    model = build_train_model(cfg)
    model.init_weights()
    optimizer = build_optimizer(model, cfg.optimizer)
    before = model.get_model().decode_head.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    # MIC(DAFormer) uses the row-margin crop (v1), HRDA the dataset's valid_pseudo_mask (v2).
    out = model.train_step(uda_batch(64, valid_pseudo_mask='hrda' in name), optimizer)
    log = out['log_vars']
    assert losses <= set(log)
    assert all(torch.isfinite(torch.tensor(log[k])) and log[k] > 0 for k in losses), log
    after = model.get_model().decode_head.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
