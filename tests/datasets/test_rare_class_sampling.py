"""Rare class sampling: the probability formula, the file filter and the re-crop retry."""
import math

import numpy as np
import pytest
import torch
from mmcv.parallel import DataContainer as DC

from mmseg.datasets import GTADataset, UDADataset
from mmseg.datasets.rare_class_sampling import files_with_class, rcs_class_probs
from mmseg.utils.errors import UserError

STATS = [{'file': 'data/gta/labels/a_labelTrainIds.png', '0': 100, '1': 10},
         {'file': 'data/gta/labels/b_labelTrainIds.png', '0': 50, '2': 40}]


def test_rcs_probabilities_equal_softmax_of_one_minus_frequency():
    classes, probs = rcs_class_probs(STATS, temperature=0.5)
    # N = {0: 150, 1: 10, 2: 40}, ΣN = 200, ascending order 1, 2, 0.
    logits = [(1 - 10 / 200) / 0.5, (1 - 40 / 200) / 0.5, (1 - 150 / 200) / 0.5]
    expected = [math.exp(v) / sum(math.exp(u) for u in logits) for v in logits]
    assert classes == [1, 2, 0]
    np.testing.assert_allclose(probs, expected, rtol=1e-6)


def test_rcs_ignores_absent_classes_and_sums_to_one():
    classes, probs = rcs_class_probs(STATS, temperature=0.01)
    assert set(classes) == {0, 1, 2}
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert probs[0] > probs[1] > probs[2]  # rarest first, most likely


def test_files_with_class_keeps_only_counts_above_min_pixels():
    samples = {'0': [['x/a.png', 3001], ['x/b.png', 3000]], '1': [['x/c.png', 5000]]}
    assert files_with_class(samples, [0, 1], min_pixels=3000) == {0: ['a.png'], 1: ['c.png']}


def test_files_with_class_refuses_a_class_without_files():
    with pytest.raises(ValueError, match='class 1'):
        files_with_class({'0': [['a.png', 9]], '1': [['b.png', 2]]}, [0, 1], min_pixels=5)


class _CountingSource:
    """Source stub whose k-th load holds `counts[k]` pixels of class 0."""
    CLASSES = ('a', 'b')
    PALETTE = [[0, 0, 0], [1, 1, 1]]
    ignore_index = 255
    CONVERTER = 'tools/convert_datasets/gta.py'

    def __init__(self, data_root, counts):
        self.data_root = data_root
        self.counts = counts
        self.loads = 0
        self.img_infos = [dict(filename='a.png', ann=dict(seg_map='a_labelTrainIds.png'))]

    def __len__(self):
        return 1

    def __getitem__(self, idx):
        gt = torch.ones(1, 10, 10, dtype=torch.long)
        gt.view(-1)[:self.counts[self.loads]] = 0
        self.loads += 1
        return dict(img=DC(torch.zeros(3, 10, 10), stack=True), gt_semantic_seg=DC(gt, stack=True),
                    img_metas=DC({}, cpu_only=True))


def _rcs_dataset(tmp_path, counts, min_crop_ratio):
    import json
    (tmp_path / 'sample_class_stats.json').write_text(json.dumps([{'file': 'a', '0': 100}]))
    (tmp_path / 'samples_with_class.json').write_text(
        json.dumps({'0': [['labels/a_labelTrainIds.png', 100]]}))
    source = _CountingSource(str(tmp_path), counts)
    target = _CountingSource(str(tmp_path), [0] * 20)
    rcs = dict(min_pixels=4, class_temp=0.01, min_crop_ratio=min_crop_ratio)
    return UDADataset(source, target, dict(rare_class_sampling=rcs)), source


def test_min_crop_ratio_reloads_until_enough_class_pixels(tmp_path):
    # threshold = 4 * 2.0 = 8: the 3rd crop with 9 pixels is accepted (8 is not enough).
    dataset, source = _rcs_dataset(tmp_path, [1, 8, 9, 50], min_crop_ratio=2.0)
    item = dataset[0]
    assert source.loads == 3
    assert int((item['gt_semantic_seg'].data == 0).sum()) == 9


def test_min_crop_ratio_uses_the_eleventh_load_after_ten_failures(tmp_path):
    dataset, source = _rcs_dataset(tmp_path, list(range(12)), min_crop_ratio=100.0)
    item = dataset[0]
    assert source.loads == 11
    assert int((item['gt_semantic_seg'].data == 0).sum()) == 10


def test_min_crop_ratio_zero_loads_once(tmp_path):
    dataset, source = _rcs_dataset(tmp_path, [0, 50], min_crop_ratio=0)
    dataset[0]
    assert source.loads == 1


def test_rcs_without_stats_names_file_and_converter(gta_root):
    from datasets_helpers import train_pipeline
    source = GTADataset(pipeline=train_pipeline(), data_root=gta_root, img_dir='images',
                        ann_dir='labels')
    with pytest.raises(UserError, match=r'sample_class_stats\.json.*tools/convert_datasets/gta'):
        UDADataset(source, source, dict(
            rare_class_sampling=dict(min_pixels=1, class_temp=0.01, min_crop_ratio=0)))
