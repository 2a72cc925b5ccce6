"""`tools/test.py --eval cityscapes` end to end, on a narrow DeepLabV2 and a tiny Cityscapes."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmcv import Config
from PIL import Image

from mmseg.core.evaluation.class_names import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from mmseg.models import build_segmentor
from test_fscore_and_cityscapes_eval import write_val_set

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(32, 16), flip=False,
         transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                     dict(type='Normalize', **NORM), dict(type='ImageToTensor', keys=['img']),
                     dict(type='Collect', keys=['img'])])]


@pytest.mark.slow
def test_eval_cityscapes_writes_label_ids_and_prints_the_official_scores(tmp_path):
    rng = np.random.RandomState(0)
    gts = {stem: rng.choice([0, 1, 2, 13], size=(16, 32))
           for stem in ('aachen_000000_000019', 'bremen_000001_000019')}
    write_val_set(tmp_path / 'cs', gts)
    test = dict(type='CityscapesDataset', data_root=str(tmp_path / 'cs'),
                img_dir='leftImg8bit/val', ann_dir='gtFine/val', pipeline=PIPELINE,
                test_mode=True)
    model = dict(pretrained=None, backbone=dict(depth=50, stem_channels=8, base_channels=4),
                 decode_head=dict(in_channels=128))
    base = osp.join(REPO, 'configs/_base_/models/deeplabv2red_r50-d8.py')
    cfg_path = tmp_path / 'dlv2_tiny.py'
    cfg_path.write_text(f'_base_ = [{base!r}]\nmodel = {model!r}\n'
                        f'data = dict(workers_per_gpu=0, test={test!r})\n')
    segmentor = build_segmentor(Config.fromfile(str(cfg_path)).model)
    segmentor.init_weights()
    torch.save(dict(state_dict=segmentor.state_dict(),
                    meta=dict(CLASSES=CITYSCAPES_CLASSES, PALETTE=CITYSCAPES_PALETTE)),
               tmp_path / 'ckpt.pth')
    prefix = tmp_path / 'preds'
    proc = subprocess.run(
        [sys.executable, '-m', 'tools.test', str(cfg_path), str(tmp_path / 'ckpt.pth'),
         '--eval', 'cityscapes', 'mIoU', '--eval-options', f'imgfile_prefix={prefix}'],
        cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, 'PYTHONPATH': REPO})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'Score Average' in proc.stdout  # the official script's summary
    assert 'mIoU' in proc.stdout
    written = np.array(Image.open(prefix / 'aachen_000000_000019_leftImg8bit.png'))
    assert written.shape == (16, 32)
    # Label ids of the 19 evaluated classes only (road 7 ... bicycle 33), no train ids.
    assert set(np.unique(written)) <= {7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26,
                                       27, 28, 31, 32, 33}
    # The maps spilled for the official script are removed afterwards.
    assert not (tmp_path / '.efficient_test').exists()
