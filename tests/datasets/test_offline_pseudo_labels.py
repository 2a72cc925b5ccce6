"""Offline target pseudo-labels (`pl_dir`): loaded per image, transformed with it, as `pl`."""
import os.path as osp
import shutil

import numpy as np
import pytest

from mmseg.datasets import build_dataset
from mmseg.utils.errors import UserError

from datasets_helpers import make_cityscapes, make_gta, train_pipeline, write_label

LABEL_DIR = osp.join('gtFine', 'train')


def _target(root, **extra):
    return dict(type='CityscapesDataset', data_root=str(root), img_dir='leftImg8bit/train',
                ann_dir=LABEL_DIR, pipeline=train_pipeline(), **extra)


def _offline_copy_of_the_labels(root):
    """Offline pseudo-labels equal to the labels, so they must stay aligned with them."""
    shutil.copytree(osp.join(root, LABEL_DIR), osp.join(root, 'pl'))
    return 'pl'


def test_offline_pseudo_label_is_cropped_and_flipped_with_the_image(tmp_path):
    root = make_cityscapes(tmp_path / 'cs', n=2, classes=(0, 1, 2, 3, 4, 5, 6, 7))
    dataset = build_dataset(_target(root, pl_dir=_offline_copy_of_the_labels(root)))
    for idx in range(2):
        for _ in range(4):  # random crops and flips
            item = dataset[idx]
            assert item['pl'].data.shape == (1, 16, 16)
            assert np.array_equal(item['pl'].data.numpy(), item['gt_semantic_seg'].data.numpy())


def test_pl_suffix_names_the_offline_files(tmp_path):
    root = make_cityscapes(tmp_path / 'cs', n=1)
    stem = 'city/city_000000_000019'
    write_label(osp.join(root, 'sam', f'{stem}_sam.png'), np.full((16, 32), 3))
    item = build_dataset(_target(root, pl_dir='sam', pl_suffix='_sam.png'))[0]
    assert set(np.unique(item['pl'].data.numpy())) <= {3, 255}


def test_missing_offline_pseudo_label_is_one_clear_error(tmp_path):
    root = make_cityscapes(tmp_path / 'cs', n=2)
    _offline_copy_of_the_labels(root)
    next(p for p in (tmp_path / 'cs' / 'pl').rglob('*.png')).unlink()
    with pytest.raises(UserError, match=r'1 of 2 images have no offline pseudo-label in pl_dir'):
        build_dataset(_target(root, pl_dir='pl'))


def test_offline_pseudo_label_with_unknown_ids_is_refused(tmp_path):
    root = make_cityscapes(tmp_path / 'cs', n=1)
    write_label(osp.join(root, 'pl', 'city', 'city_000000_000019_gtFine_labelTrainIds.png'),
                np.full((16, 32), 40))
    dataset = build_dataset(_target(root, pl_dir='pl'))
    with pytest.raises(UserError, match=r'contains ids \[40\]'):
        dataset[0]


def test_uda_dataset_passes_the_targets_offline_pseudo_label_as_pl(tmp_path):
    target_root = make_cityscapes(tmp_path / 'cs', n=2)
    target = _target(target_root, pl_dir=_offline_copy_of_the_labels(target_root))
    target['pipeline'] = train_pipeline(collect=('img',), load_ann=False)
    source = dict(type='GTADataset', data_root=make_gta(tmp_path / 'gta', n=2),
                  img_dir='images', ann_dir='labels', pipeline=train_pipeline())
    item = build_dataset(dict(type='UDADataset', source=source, target=target))[0]
    assert item['pl'].data.shape == (1, 16, 16)
    assert 'target_gt_semantic_seg' not in item
