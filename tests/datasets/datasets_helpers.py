"""Writers of tiny on-disk datasets and pipelines for the data tests (no converter needed)."""
import os
import os.path as osp

import numpy as np
from PIL import Image

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def write_rgb(path, rgb: np.ndarray) -> None:
    """Save an (H, W, 3) RGB uint8 image as PNG."""
    Image.fromarray(rgb.astype(np.uint8)).save(_mkdir(path))


def write_label(path, label: np.ndarray) -> None:
    """Save an (H, W) uint8 train-id map as a single-channel PNG."""
    Image.fromarray(label.astype(np.uint8)).save(_mkdir(path))


def _mkdir(path) -> str:
    path = str(path)
    os.makedirs(osp.dirname(path), exist_ok=True)
    return path


def random_rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)


def stripes_label(h: int, w: int, classes) -> np.ndarray:
    """Vertical stripes of equal width, one per class id."""
    label = np.zeros((h, w), dtype=np.uint8)
    for i, c in enumerate(classes):
        label[:, i * w // len(classes):(i + 1) * w // len(classes)] = c
    return label


def train_pipeline(crop=(16, 16), scale=(32, 16), collect=('img', 'gt_semantic_seg'),
                   cat_max_ratio=1.0, load_ann=True):
    steps = [dict(type='LoadImageFromFile')]
    if load_ann:
        steps.append(dict(type='LoadAnnotations'))
    steps += [dict(type='Resize', img_scale=scale),
              dict(type='RandomCrop', crop_size=crop, cat_max_ratio=cat_max_ratio),
              dict(type='RandomFlip', prob=0.5),
              dict(type='Normalize', **NORM),
              dict(type='Pad', size=crop, pad_val=0, seg_pad_val=255),
              dict(type='DefaultFormatBundle'),
              dict(type='Collect', keys=list(collect))]
    return steps


def make_gta(root, n=3, h=16, w=32, classes=(0, 1, 2)):
    """`images/<n>.png` + `labels/<n>_labelTrainIds.png` under root."""
    for i in range(n):
        write_rgb(osp.join(root, 'images', f'{i:05d}.png'), random_rgb(h, w, i))
        write_label(osp.join(root, 'labels', f'{i:05d}_labelTrainIds.png'),
                    stripes_label(h, w, classes))
    return str(root)


def make_cityscapes(root, split='train', n=2, h=16, w=32, classes=(0, 1, 2, 3)):
    """`leftImg8bit/<split>/city/*` + `gtFine/<split>/city/*` under root."""
    for i in range(n):
        stem = f'city_{i:06d}_000019'
        write_rgb(osp.join(root, 'leftImg8bit', split, 'city', f'{stem}_leftImg8bit.png'),
                  random_rgb(h, w, 100 + i))
        write_label(osp.join(root, 'gtFine', split, 'city', f'{stem}_gtFine_labelTrainIds.png'),
                    stripes_label(h, w, classes))
    return str(root)
