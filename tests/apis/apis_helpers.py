"""Tiny Cityscapes-layout data and a fake segmentor for the test-tool and eval-hook tests."""
import os
import os.path as osp

import numpy as np
import torch
from PIL import Image

from mmseg.datasets import CityscapesDataset
from mmseg.models.segmentors import BaseSegmentor

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
H, W = 16, 32


def val_pipeline(scale=(W, H)):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=scale, flip=False,
             transforms=[dict(type='Resize', keep_ratio=True),
                         dict(type='RandomFlip'), dict(type='Normalize', **NORM),
                         dict(type='ImageToTensor', keys=['img']),
                         dict(type='Collect', keys=['img'])])]


def _save(array: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def write_cityscapes_val(root, labels: dict) -> dict:
    """`leftImg8bit/val/<city>/<stem>_leftImg8bit.png` + gtFine train ids, one per label map.

    Returns {ori_filename: label} with ori_filename relative to the image folder.
    """
    out = {}
    for i, (stem, label) in enumerate(sorted(labels.items())):
        city = stem.split('_')[0]
        rgb = np.random.RandomState(i).randint(0, 256, label.shape + (3,))
        _save(rgb, osp.join(root, 'leftImg8bit', 'val', city, f'{stem}_leftImg8bit.png'))
        _save(label, osp.join(root, 'gtFine', 'val', city, f'{stem}_gtFine_labelTrainIds.png'))
        out[f'{city}/{stem}_leftImg8bit.png'] = label
    return out


def val_dataset_cfg(root, pipeline=None) -> dict:
    return dict(type='CityscapesDataset', data_root=str(root), img_dir='leftImg8bit/val',
                ann_dir='gtFine/val', pipeline=pipeline or val_pipeline(), test_mode=True)


def val_dataset(root) -> CityscapesDataset:
    cfg = val_dataset_cfg(root)
    cfg.pop('type')
    return CityscapesDataset(**cfg)


class FixedPredictor(BaseSegmentor):
    """Predicts a given map per image (looked up by `ori_filename`) at test time."""

    def __init__(self, predictions: dict):
        super().__init__()
        self.predictions = predictions
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def simple_test(self, img, img_meta, **kwargs):
        return [self.predictions[meta['ori_filename']] for meta in img_meta]

    def extract_feat(self, img):
        raise NotImplementedError

    encode_decode = forward_train = aug_test = extract_feat


def multi_gpu_worker(rank, world_size, port, data_root, predictions, tmpdir, out_file):
    """One process of a gloo CPU group running `multi_gpu_test`; rank 0 pickles the results."""
    import mmcv
    import torch.distributed as dist

    from mmseg.apis.test import multi_gpu_test
    from mmseg.utils.device import ModelOnDevice
    from mmseg.datasets import build_dataloader
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    loader = build_dataloader(val_dataset(data_root), samples_per_gpu=1, workers_per_gpu=0,
                              dist=True, shuffle=False)
    results = multi_gpu_test(ModelOnDevice(FixedPredictor(predictions), 'cpu'), loader,
                             tmpdir=tmpdir)
    if rank == 0:
        mmcv.dump(results, out_file)
    dist.destroy_process_group()


def miou_by_loop(preds, gts, num_classes: int, ignore_index: int = 255) -> float:
    """mIoU as MIC defines it: dataset-total I/U per class, classes with U == 0 skipped,
    percentage rounded to 2 decimals, as a fraction."""
    ious = []
    for c in range(num_classes):
        inter = union = 0
        for pred, gt in zip(preds, gts):
            valid = gt != ignore_index
            inter += np.sum((pred == c) & (gt == c) & valid)
            union += np.sum(((pred == c) | (gt == c)) & valid)
        if union:
            ious.append(inter / union)
    return round(float(np.mean(ious)) * 100, 2) / 100


REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_HEAD = dict(in_channels=[32, 64, 160, 256], channels=32,
                 decoder_params=dict(embed_dims=32, fusion_cfg=dict(dilations=(1, 2))))


def write_tiny_config(path, data_root, hrda: bool = False) -> str:
    """A mit_b0 + small DAFormer-head config on MIC's real base files, testing on data_root.

    hrda=True inherits the full HRDA UDA config (so it has a `uda` key) with 32 px HR crops
    and 64 px slide windows.
    """
    if hrda:
        base = osp.join(REPO, 'configs/hrda/gtaHR2csHR_hrda.py')
        model = dict(pretrained=None, backbone=dict(type='mit_b0'),
                     decode_head=dict(TINY_HEAD, attention_embed_dim=16), hr_crop_size=[32, 32],
                     test_cfg=dict(crop_size=[64, 64], stride=[32, 32]))
    else:
        base = osp.join(REPO, 'configs/_base_/models/daformer_sepaspp_mitb5.py')
        model = dict(pretrained=None, backbone=dict(type='mit_b0'), decode_head=TINY_HEAD)
    test = val_dataset_cfg(data_root, val_pipeline(scale=(128, 64)))
    text = (f'_base_ = [{base!r}]\nmodel = {model!r}\n'
            f'data = dict(workers_per_gpu=0, test={test!r}, val={test!r})\n')
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def save_uda_checkpoint(cfg_path, path) -> dict:
    """Random student and teacher weights in MIC's UDA layout (meta with CLASSES/PALETTE)."""
    from mmcv import Config

    from mmseg.core.evaluation.class_names import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
    from mmseg.models import build_segmentor
    cfg = Config.fromfile(cfg_path)
    state = {}
    for prefix in ('model.', 'ema_model.'):
        model = build_segmentor(cfg.model)
        state.update({prefix + k: v for k, v in model.state_dict().items()})
    meta = dict(CLASSES=CITYSCAPES_CLASSES, PALETTE=CITYSCAPES_PALETTE, iter=2)
    torch.save(dict(meta=meta, state_dict=state), path)
    return state
