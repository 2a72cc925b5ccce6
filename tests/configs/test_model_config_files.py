"""The shipped model config files build and train (one forward/backward) on CPU."""
import torch
from mmcv import Config

from mmseg.models import build_segmentor

MIT_B0_CHANNELS = [32, 64, 160, 256]


def small(cfg):
    cfg.model.pretrained = None
    cfg.model.backbone = dict(type='mit_b0', style='pytorch')
    cfg.model.decode_head.in_channels = MIT_B0_CHANNELS
    return cfg


def forward_backward(model, size=64):
    img = torch.randn(2, 3, size, size)
    gt = torch.randint(0, 19, (2, 1, size, size))
    metas = [dict(img_shape=(size, size, 3), ori_shape=(size, size, 3),
                  pad_shape=(size, size, 3), flip=False)] * 2
    losses = model.forward_train(img, metas, gt)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    loss.backward()
    return losses


def test_daformer_sepaspp_model_config_builds_and_trains():
    cfg = small(Config.fromfile('configs/_base_/models/daformer_sepaspp_mitb5.py'))
    assert cfg.model.decode_head.decoder_params.fusion_cfg.type == 'aspp'
    losses = forward_backward(build_segmentor(cfg.model))
    assert torch.isfinite(losses['decode.loss_seg'])


def test_hrda_model_of_the_mic_config_builds_and_trains():
    cfg = small(Config.fromfile('configs/mic/gtaHR2csHR_mic_hrda.py'))
    cfg.model.hr_crop_size = (32, 32)
    losses = forward_backward(build_segmentor(cfg.model))
    assert {'decode.loss_seg', 'decode.hr.loss_seg'} <= set(losses)
