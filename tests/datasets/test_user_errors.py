"""Data mistakes a user can fix raise UserError naming the file and the fix."""
import os
import os.path as osp

import numpy as np
import pytest

from mmseg.datasets import GTADataset
from mmseg.utils.errors import UserError

from datasets_helpers import train_pipeline, write_label, write_rgb


def _gta(root, **kw):
    return GTADataset(pipeline=train_pipeline(), data_root=str(root), img_dir='images',
                      ann_dir='labels', **kw)


def test_missing_data_root_names_path_layout_and_converter(tmp_path):
    missing = tmp_path / 'nowhere'
    with pytest.raises(UserError) as e:
        _gta(missing)
    msg = str(e.value)
    assert f'data_root {missing}' in msg and 'data/gta/images' in msg
    assert 'tools/convert_datasets/gta.py' in msg


@pytest.mark.parametrize('what', ['img_dir', 'ann_dir'])
def test_missing_img_dir_or_ann_dir_names_the_folder(gta_root, what):
    folder = osp.join(gta_root, 'images' if what == 'img_dir' else 'labels')
    os.rename(folder, folder + '_moved')
    with pytest.raises(UserError, match=f'{what} {folder} does not exist'):
        _gta(gta_root)


def test_image_without_label_names_both_files(gta_root):
    os.remove(osp.join(gta_root, 'labels', '00001_labelTrainIds.png'))
    with pytest.raises(UserError, match=r'1 of 3 images have no label.*00001\.png lacks .*'
                                        r'labels/00001_labelTrainIds\.png'):
        _gta(gta_root)


def test_split_is_refused_for_gta(gta_root):
    with pytest.raises(UserError, match='split'):
        _gta(gta_root, split='train.txt')


def test_corrupt_image_names_the_file(gta_root):
    path = osp.join(gta_root, 'images', '00000.png')
    with open(path, 'wb') as f:
        f.write(b'not a png')
    dataset = _gta(gta_root)
    with pytest.raises(UserError, match=f'cannot decode image {path}'):
        dataset[0]


def test_corrupt_label_names_the_file(gta_root):
    path = osp.join(gta_root, 'labels', '00000_labelTrainIds.png')
    with open(path, 'wb') as f:
        f.write(b'\x89PNG truncated')
    dataset = _gta(gta_root)
    with pytest.raises(UserError, match=f'cannot decode label {path}'):
        dataset[0]


def test_label_ids_outside_classes_name_the_file_and_converter(gta_root):
    path = osp.join(gta_root, 'labels', '00002_labelTrainIds.png')
    write_label(path, np.full((16, 32), 33, np.uint8))  # a raw GTA id, not a train id
    dataset = _gta(gta_root)
    with pytest.raises(UserError, match=rf'{path} contains ids \[33\].*convert_datasets/gta\.py'):
        dataset[2]
    with pytest.raises(UserError, match='ids'):  # the evaluation path checks too
        dataset.get_gt_seg_map_by_idx(2)


def test_colour_label_is_refused(gta_root):
    path = osp.join(gta_root, 'labels', '00000_labelTrainIds.png')
    write_rgb(path, np.zeros((16, 32, 3), np.uint8))
    with pytest.raises(UserError, match='single-channel'):
        _gta(gta_root)[0]


def test_empty_image_folder_says_which_suffix_was_expected(tmp_path):
    os.makedirs(tmp_path / 'images')
    os.makedirs(tmp_path / 'labels')
    with pytest.raises(UserError, match=r"no image ending in '\.png'"):
        _gta(tmp_path)
