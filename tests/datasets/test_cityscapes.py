"""Cityscapes-style datasets: file pairing, the pseudo-label margin mask, result export."""
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.datasets import ACDCDataset, CityscapesDataset, build_dataset
from mmseg.utils.errors import UserError

from datasets_helpers import NORM, make_cityscapes, write_label, write_rgb

MARGINS = [2, 4, 3, 1]  # top, bottom, left, right


def _margin_mask(h, w):
    mask = np.ones((h, w), np.uint8)
    mask[:2], mask[h - 4:], mask[:, :3], mask[:, w - 1:] = 0, 0, 0, 0
    return mask


def _cs(root, pipeline, **kw):
    return CityscapesDataset(pipeline=pipeline, data_root=root, img_dir='leftImg8bit/train',
                             ann_dir='gtFine/train', **kw)


def test_cityscapes_pairs_images_with_train_id_labels_recursively(cs_root):
    dataset = _cs(cs_root, [])
    assert [i['filename'] for i in dataset.img_infos] == [
        'city/city_000000_000019_leftImg8bit.png', 'city/city_000001_000019_leftImg8bit.png']
    assert dataset.img_infos[0]['ann']['seg_map'] == \
        'city/city_000000_000019_gtFine_labelTrainIds.png'
    assert len(dataset.CLASSES) == 19 and dataset.valid_mask_size == (1024, 2048)


def test_split_file_lists_name_stems(cs_root):
    with open(osp.join(cs_root, 'train.txt'), 'w') as f:
        f.write('city/city_000001_000019\n')
    dataset = _cs(cs_root, [], split='train.txt')
    assert [i['filename'] for i in dataset.img_infos] == ['city/city_000001_000019_leftImg8bit.png']


def test_valid_pseudo_mask_zeroes_margins_then_follows_resize_flip_pad(cs_root):
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='Resize', img_scale=(64, 32)),  # 16×32 -> 32×64 (×2)
                dict(type='RandomFlip', prob=1.0),
                dict(type='Pad', size=(40, 64)),
                dict(type='DefaultFormatBundle'),
                dict(type='Collect', keys=['img'])]
    dataset = _cs(cs_root, pipeline, crop_pseudo_margins=MARGINS, valid_mask_size=(16, 32))
    mask = dataset[0]['valid_pseudo_mask'].data
    expected = np.repeat(np.repeat(_margin_mask(16, 32), 2, 0), 2, 1)[:, ::-1]
    expected = np.concatenate([expected, np.full((8, 64), 255, np.uint8)])
    assert mask.shape == (1, 40, 64) and mask.dtype == torch.uint8
    np.testing.assert_array_equal(mask[0].numpy(), expected)


def test_valid_pseudo_mask_is_cropped_with_the_label(tmp_path):
    # The GT equals the expected margin mask, so after any random crop/flip both must agree.
    root = str(tmp_path / 'cs')
    write_rgb(osp.join(root, 'leftImg8bit/train/c/c_0_0_leftImg8bit.png'),
              np.zeros((16, 32, 3), np.uint8))
    write_label(osp.join(root, 'gtFine/train/c/c_0_0_gtFine_labelTrainIds.png'),
                _margin_mask(16, 32))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='Resize', img_scale=(64, 32)),
                dict(type='RandomCrop', crop_size=(24, 40)), dict(type='RandomFlip', prob=0.5),
                dict(type='Normalize', **NORM), dict(type='Pad', size=(24, 48)),
                dict(type='DefaultFormatBundle'),
                dict(type='Collect', keys=['img', 'gt_semantic_seg'])]
    dataset = _cs(root, pipeline, crop_pseudo_margins=MARGINS, valid_mask_size=(16, 32))
    for _ in range(5):
        item = dataset[0]
        np.testing.assert_array_equal(item['valid_pseudo_mask'].data.numpy(),
                                      item['gt_semantic_seg'].data.numpy())
        assert (item['valid_pseudo_mask'].data[:, :, 40:] == 255).all()


def test_crop_pseudo_margins_appends_collect_key_without_touching_config(cs_root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='DefaultFormatBundle'),
                dict(type='Collect', keys=['img'])]
    dataset = _cs(cs_root, pipeline, crop_pseudo_margins=MARGINS, valid_mask_size=(16, 32))
    assert dataset.pipeline.transforms[-1].keys == ['img', 'valid_pseudo_mask']
    assert pipeline[-1]['keys'] == ['img']


def test_valid_mask_size_other_than_image_size_is_a_user_error(cs_root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='DefaultFormatBundle'),
                dict(type='Collect', keys=['img'])]
    dataset = _cs(cs_root, pipeline, crop_pseudo_margins=MARGINS)  # default 1024×2048
    with pytest.raises(UserError, match='valid_mask_size'):
        dataset[0]


def test_acdc_suffixes_and_mask_size(tmp_path):
    root = str(tmp_path / 'acdc')
    write_rgb(osp.join(root, 'rgb_anon/val/GP010376_frame_000001_rgb_anon.png'),
              np.zeros((4, 4, 3), np.uint8))
    write_label(osp.join(root, 'gt/val/GP010376_frame_000001_gt_labelTrainIds.png'),
                np.zeros((4, 4), np.uint8))
    dataset = build_dataset(dict(type='ACDCDataset', data_root=root, img_dir='rgb_anon/val',
                                 ann_dir='gt/val', pipeline=[]))
    assert isinstance(dataset, ACDCDataset) and len(dataset) == 1
    assert dataset.valid_mask_size == (1080, 1920)


def test_format_results_to_label_id_writes_cityscapes_ids_and_palette(tmp_path):
    root = make_cityscapes(tmp_path / 'cs', split='val', n=1, h=2, w=3)
    dataset = CityscapesDataset(pipeline=[], data_root=root, img_dir='leftImg8bit/val',
                                ann_dir='gtFine/val', test_mode=True)
    pred = np.array([[0, 1, 2], [13, 18, 10]], np.uint8)
    files, tmp_dir = dataset.format_results([pred], imgfile_prefix=str(tmp_path / 'out'))
    assert tmp_dir is None
    assert osp.basename(files[0]) == 'city_000000_000019_leftImg8bit.png'
    written = Image.open(files[0])
    assert written.mode == 'P'
    np.testing.assert_array_equal(np.array(written), [[7, 8, 11], [26, 33, 23]])
    assert written.getpalette()[7 * 3:7 * 3 + 3] == [128, 64, 128]  # road's colour


def test_format_results_train_ids_use_dataset_palette(tmp_path):
    root = make_cityscapes(tmp_path / 'cs', split='val', n=1, h=2, w=3)
    dataset = CityscapesDataset(pipeline=[], data_root=root, img_dir='leftImg8bit/val',
                                ann_dir='gtFine/val', test_mode=True)
    pred = np.array([[0, 1, 2], [13, 18, 10]], np.uint8)
    files, _ = dataset.format_results([pred], str(tmp_path / 'out'), to_label_id=False,
                                      indices=[0])
    written = Image.open(files[0])
    np.testing.assert_array_equal(np.array(written), pred)
    assert written.getpalette()[18 * 3:18 * 3 + 3] == [119, 11, 32]  # bicycle


def test_dark_zurich_train_night_needs_no_label_folder_when_the_pipeline_loads_none(tmp_path):
    """MIC's Dark Zurich config names gt/train/night/, which the dataset does not ship."""
    root = str(tmp_path / 'dz')
    write_rgb(osp.join(root, 'rgb_anon/train/night/GOPR0351/GOPR0351_frame_000159_rgb_anon.png'),
              np.zeros((4, 4, 3), np.uint8))
    cfg = dict(type='DarkZurichDataset', data_root=root, img_dir='rgb_anon/train/night/',
               ann_dir='gt/train/night/')
    dataset = build_dataset(dict(cfg, pipeline=[dict(type='LoadImageFromFile')]))
    assert len(dataset) == 1 and dataset.ann_dir is None
    with pytest.raises(UserError, match='gt/train/night'):  # labels asked for: still an error
        build_dataset(dict(cfg, pipeline=[dict(type='LoadImageFromFile'),
                                          dict(type='LoadAnnotations')]))
