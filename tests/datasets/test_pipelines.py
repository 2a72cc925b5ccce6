"""Loading, geometric transforms, normalisation and formatting."""
import numpy as np
import pytest
import torch

from mmseg.datasets.pipelines import (Collect, Compose, DefaultFormatBundle, LoadAnnotations,
                                      LoadImageFromFile, MultiScaleFlipAug, Normalize, Pad,
                                      RandomCrop, RandomFlip, Resize)
from mmseg.datasets.pipelines.formatting import DEFAULT_META_KEYS

from datasets_helpers import write_label, write_rgb


def _loaded(tmp_path, rgb, label=None):
    write_rgb(tmp_path / 'img.png', rgb)
    results = dict(img_info=dict(filename='img.png'), img_prefix=str(tmp_path), seg_fields=[])
    if label is not None:
        write_label(tmp_path / 'lbl.png', label)
        results.update(ann_info=dict(seg_map='lbl.png'), seg_prefix=str(tmp_path))
        results = LoadAnnotations()(LoadImageFromFile()(results))
        return results
    return LoadImageFromFile()(results)


def test_load_image_gives_bgr_uint8(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[...] = (30, 20, 10)  # R, G, B
    results = _loaded(tmp_path, rgb)
    assert results['img'].dtype == np.uint8
    assert results['img'][0, 0].tolist() == [10, 20, 30]
    assert results['ori_shape'] == (4, 6, 3)
    assert results['ori_filename'] == 'img.png'


def test_load_annotations_keeps_ids_as_uint8(tmp_path):
    label = np.array([[0, 18, 255], [7, 3, 1]], np.uint8)
    results = _loaded(tmp_path, np.zeros((2, 3, 3), np.uint8), label)
    assert results['gt_semantic_seg'].dtype == np.uint8
    np.testing.assert_array_equal(results['gt_semantic_seg'], label)
    assert results['seg_fields'] == ['gt_semantic_seg']


def test_normalize_to_rgb_swaps_channels_before_mean_and_std():
    img = np.zeros((1, 1, 3), np.uint8)
    img[...] = (10, 20, 30)  # B, G, R
    out = Normalize(mean=[1, 2, 3], std=[1, 1, 2], to_rgb=True)(dict(img=img))['img']
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [(30 - 1) / 1, (20 - 2) / 1, (10 - 3) / 2])


def test_resize_keep_ratio_bilinear_image_nearest_seg():
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, 10:] = 200
    seg = np.zeros((10, 20), np.uint8)
    seg[:, 10:] = 7
    results = Resize(img_scale=(40, 40), keep_ratio=True)(
        dict(img=img, gt_semantic_seg=seg, seg_fields=['gt_semantic_seg']))
    assert results['img'].shape == (20, 40, 3)  # ×2 fits (40, 40) keeping 1:2
    assert set(np.unique(results['gt_semantic_seg'])) == {0, 7}
    assert 0 < len(np.unique(results['img'])) and results['img'].max() == 200
    np.testing.assert_allclose(results['scale_factor'], [2, 2, 2, 2])


def test_resize_ratio_range_scales_base_scale():
    np.random.seed(3)
    ratio = np.random.random_sample() * (2.0 - 0.5) + 0.5
    np.random.seed(3)
    results = Resize(img_scale=(20, 10), ratio_range=(0.5, 2.0))(
        dict(img=np.zeros((10, 20, 3), np.uint8), seg_fields=[]))
    assert results['scale'] == (int(20 * ratio), int(10 * ratio))


def test_resize_range_mode_draws_edges_between_the_two_scales():
    resize = Resize(img_scale=[(40, 10), (60, 30)], multiscale_mode='range')
    for seed in range(5):
        np.random.seed(seed)
        long_edge, short_edge = resize(dict(img=np.zeros((10, 20, 3), np.uint8)))['scale']
        assert 40 <= long_edge <= 60 and 10 <= short_edge <= 30


def _crop_with_boxes(crop, boxes, seg):
    """Run RandomCrop with its boxes taken from `boxes` in order; returns (seg, boxes drawn)."""
    drawn = iter(boxes)
    used = []

    def next_box(img):
        used.append(next(drawn))
        return used[-1]
    crop.get_crop_bbox = next_box
    results = crop(dict(img=np.zeros(seg.shape + (3,), np.uint8), gt_semantic_seg=seg,
                        seg_fields=['gt_semantic_seg']))
    return results, used


def test_cat_max_ratio_redraws_single_class_crop():
    seg = np.zeros((4, 8), np.uint8)
    seg[:, 6:] = 1  # left box (cols 0-3): only class 0; right box (cols 4-7): half/half
    results, used = _crop_with_boxes(RandomCrop((4, 4), cat_max_ratio=0.75),
                                     [(0, 4, 0, 4), (0, 4, 4, 8)], seg)
    assert len(used) == 2
    np.testing.assert_array_equal(results['gt_semantic_seg'], seg[:, 4:])


def test_cat_max_ratio_requires_ratio_strictly_below_and_ignores_255():
    seg = np.full((4, 4), 255, np.uint8)
    seg[0, :3] = 0
    seg[1, 0] = 1  # non-ignore: three 0s, one 1 -> ratio 0.75, not < 0.75
    boxes = [(0, 4, 0, 4)] * 11
    _, used = _crop_with_boxes(RandomCrop((4, 4), cat_max_ratio=0.75), boxes, seg)
    assert len(used) == 11  # 1 + 10 retries, the 11th box used unchecked
    _, used = _crop_with_boxes(RandomCrop((4, 4), cat_max_ratio=0.76), boxes, seg)
    assert len(used) == 1


def test_random_crop_crops_all_seg_fields_with_image():
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    seg = np.arange(64, dtype=np.uint8).reshape(8, 8)
    results = RandomCrop((3, 5))(dict(img=img, gt_semantic_seg=seg, mask=seg.copy(),
                                      seg_fields=['gt_semantic_seg', 'mask']))
    y, x = np.argwhere(seg == results['gt_semantic_seg'][0, 0])[0]
    np.testing.assert_array_equal(results['img'], img[y:y + 3, x:x + 5])
    np.testing.assert_array_equal(results['mask'], seg[y:y + 3, x:x + 5])


def test_flip_flips_image_and_seg_fields_together():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    seg = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    results = RandomFlip(prob=1.0)(dict(img=img, gt_semantic_seg=seg,
                                        seg_fields=['gt_semantic_seg']))
    np.testing.assert_array_equal(results['img'], img[:, ::-1])
    np.testing.assert_array_equal(results['gt_semantic_seg'], seg[:, ::-1])
    assert results['flip'] and results['flip_direction'] == 'horizontal'


def test_pad_fills_image_with_zero_and_seg_with_255():
    results = Pad(size=(3, 4))(dict(img=np.full((2, 3, 3), 9, np.float32),
                                    gt_semantic_seg=np.ones((2, 3), np.uint8),
                                    seg_fields=['gt_semantic_seg']))
    assert results['img'].shape == (3, 4, 3) and results['pad_shape'] == (3, 4, 3)
    assert results['img'][2].max() == 0 and results['img'][:, 3].max() == 0
    assert (results['gt_semantic_seg'][2] == 255).all()
    assert (results['gt_semantic_seg'][:2, :3] == 1).all()


def test_pad_size_divisor_rounds_up():
    results = Pad(size_divisor=8)(dict(img=np.zeros((9, 16, 3), np.float32), seg_fields=[]))
    assert results['img'].shape == (16, 16, 3)


def test_format_bundle_and_collect_shapes_dtypes_and_meta():
    results = dict(img=np.zeros((4, 6, 3), np.float32), gt_semantic_seg=np.ones((4, 6), np.uint8),
                   valid_pseudo_mask=np.ones((4, 6), np.uint8),
                   seg_fields=['gt_semantic_seg', 'valid_pseudo_mask'],
                   **{k: k for k in DEFAULT_META_KEYS})
    data = Collect(keys=['img', 'gt_semantic_seg', 'valid_pseudo_mask'])(
        DefaultFormatBundle()(results))
    assert data['img'].data.shape == (3, 4, 6) and data['img'].stack
    assert data['gt_semantic_seg'].data.shape == (1, 4, 6)
    assert data['gt_semantic_seg'].data.dtype == torch.int64
    assert data['valid_pseudo_mask'].data.dtype == torch.uint8
    assert data['img_metas'].cpu_only
    assert set(data['img_metas'].data) == set(DEFAULT_META_KEYS)


def test_multi_scale_flip_aug_runs_each_scale_and_flip(tmp_path):
    write_rgb(tmp_path / 'img.png', np.zeros((8, 16, 3), np.uint8))
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='MultiScaleFlipAug', img_scale=(16, 8), img_ratios=[0.5, 1.0], flip=True,
             transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                         dict(type='ImageToTensor', keys=['img']),
                         dict(type='Collect', keys=['img'])])])
    data = pipeline(dict(img_info=dict(filename='img.png'), img_prefix=str(tmp_path),
                         seg_fields=[]))
    assert [tuple(t.shape) for t in data['img']] == [(3, 4, 8)] * 2 + [(3, 8, 16)] * 2
    assert [m.data['flip'] for m in data['img_metas']] == [False, True, False, True]


def test_multi_scale_flip_aug_needs_a_scale_or_ratios():
    with pytest.raises(AssertionError):
        MultiScaleFlipAug(transforms=[])
