"""The custom-dataset example config: Cityscapes-layout source and target with the
converter's RCS stats, on top of MIC(HRDA)."""
import os

import pytest
from mmcv import Config

from mmseg.apis.setup_check import check_setup

from tools_helpers import REPO

CUSTOM = 'configs/custom/mysrcHR2mytrgHR_mic_hrda.py'


def resolved(rel_path: str) -> Config:
    return Config.fromfile(os.path.join(REPO, rel_path))


def test_custom_config_is_mic_hrda_on_cityscapes_layout_folders():
    cfg, mic = resolved(CUSTOM), resolved('configs/mic/csHR2acdcHR_mic_hrda.py')
    for key in ('model', 'uda', 'optimizer', 'lr_config', 'runner', 'seed'):
        assert cfg[key] == mic[key], key
    train = cfg.data.train
    assert (train.source.type, train.source.data_root) == ('CityscapesDataset', 'data/my_source/')
    assert (train.target.type, train.target.data_root) == ('CityscapesDataset', 'data/my_target/')
    assert train.rare_class_sampling == mic.data.train.rare_class_sampling
    assert train.target.pipeline == mic.cityscapes_train_pipeline
    norm = cfg.data.val.pipeline[1].transforms[2]
    assert norm == dict(type='Normalize', **mic.img_norm_cfg)
    assert cfg.data.val.pipeline[1].img_scale == (2048, 1024)
    assert (cfg.data.val.img_dir, cfg.data.val.ann_dir) == ('leftImg8bit/val', 'gtFine/val')


@pytest.mark.slow
def test_custom_config_passes_the_setup_check_on_converted_cityscapes_layout_data(
        synthetic_root, tmp_path):
    cfg = resolved(CUSTOM)
    layout = str(synthetic_root / 'cityscapes') + '/'
    for node in (cfg.data.train.source, cfg.data.train.target, cfg.data.val, cfg.data.test):
        node.data_root = layout
    cfg.data.train.rare_class_sampling.min_pixels = 1  # 128x256 synthetic images
    cfg.model.pretrained = None
    cfg.work_dir = str(tmp_path)
    report = []
    assert check_setup(cfg, report=report) == []
    assert report[0] == (f'data.train.source: 2 images in {layout}leftImg8bit/train, 2 with '
                         f'labels in {layout}gtFine/train')
