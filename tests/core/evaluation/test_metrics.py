"""mIoU / aAcc / mAcc arithmetic, NaN handling, streaming and the returned dict."""
import math
import os.path as osp

import numpy as np
import pytest

from mmseg.core.evaluation import (SYNTHIA_CLASS_SUBSETS, class_subset_metrics, eval_metrics,
                                   intersect_and_union, pre_eval_to_metrics)
from mmseg.datasets import CustomDataset

from datasets_helpers import write_label, write_rgb

# Hand-made case with 5 classes: class 1 is in the GT but never predicted (IoU 0), class 3 is in
# neither (NaN, excluded from the means), class 2 is over-predicted; one GT pixel is ignored.
PRED = np.array([[0, 0, 2, 2],
                 [0, 4, 0, 0]])
GT = np.array([[0, 1, 1, 2],
               [255, 4, 0, 1]], np.uint8)
# By hand: I = [2, 0, 1, 0, 1], P = [4, 0, 2, 0, 1], L = [2, 3, 1, 0, 1], U = P + L - I.
IOU = [2 / 4, 0 / 3, 1 / 2, math.nan, 1 / 1]
ACC = [2 / 2, 0 / 3, 1 / 1, math.nan, 1 / 1]


def test_intersect_and_union_counts_by_hand():
    inter, union, pred, label = intersect_and_union(PRED, GT, 5, 255)
    assert inter.tolist() == [2, 0, 1, 0, 1]
    assert union.tolist() == [4, 3, 2, 0, 1]
    assert pred.tolist() == [4, 0, 2, 0, 1]
    assert label.tolist() == [2, 3, 1, 0, 1]


def test_eval_metrics_nan_for_absent_class_and_zero_for_missed_class():
    ret = eval_metrics([PRED], [GT], 5, 255, 'mIoU')
    np.testing.assert_allclose(ret['IoU'], IOU)
    np.testing.assert_allclose(ret['Acc'], ACC)
    assert ret['aAcc'] == pytest.approx(4 / 7)
    assert np.nanmean(ret['IoU']) == pytest.approx(0.5)  # (0.5 + 0 + 0.5 + 1) / 4
    assert np.nanmean(ret['Acc']) == pytest.approx(0.75)


def test_reduce_zero_label_ignores_zero_and_shifts_ids():
    inter, _, _, label = intersect_and_union(np.array([[0, 1]]), np.array([[0, 2]]), 2,
                                             reduce_zero_label=True)
    assert label.tolist() == [0, 1] and inter.tolist() == [0, 1]


def test_label_map_applies_to_ground_truth():
    _, _, _, label = intersect_and_union(np.array([[0, 0]]), np.array([[0, 1]]), 2,
                                         label_map={0: 1, 1: 0})
    assert label.tolist() == [1, 1]


def _dataset(tmp_path, gts, classes=('a', 'b', 'c', 'd', 'e')):
    for i, gt in enumerate(gts):
        write_rgb(tmp_path / 'img' / f'{i}.png', np.zeros(gt.shape + (3,), np.uint8))
        write_label(tmp_path / 'ann' / f'{i}.png', gt)
    return CustomDataset(pipeline=[], img_dir=str(tmp_path / 'img'), img_suffix='.png',
                         ann_dir=str(tmp_path / 'ann'), classes=classes, test_mode=True)


def test_evaluate_returns_rounded_fractions_as_python_floats(tmp_path, capsys):
    dataset = _dataset(tmp_path, [GT])
    results = dataset.evaluate([PRED])
    assert results['mIoU'] == 0.5 and results['mAcc'] == 0.75
    assert results['aAcc'] == round(4 / 7 * 100, 2) / 100
    assert results['IoU.b'] == 0.0 and math.isnan(results['IoU.d'])
    assert results['Acc.a'] == 1.0
    assert all(type(v) is float for v in results.values())
    out = capsys.readouterr().out
    assert 'per class results:' in out and '| 57.14 | 50.0 | 75.0 |' in out


def test_streaming_pre_eval_equals_one_shot_evaluation(tmp_path):
    rng = np.random.RandomState(0)
    gts = [rng.choice([0, 1, 2, 255], (6, 7)).astype(np.uint8) for _ in range(3)]
    preds = [rng.randint(0, 5, (6, 7)) for _ in range(3)]
    dataset = _dataset(tmp_path, gts)
    streamed = []
    for i, pred in enumerate(preds):
        streamed.extend(dataset.pre_eval(pred, i))
    one_shot, from_stream = dataset.evaluate(preds), dataset.evaluate(streamed)
    assert list(one_shot) == list(from_stream)
    np.testing.assert_array_equal(list(one_shot.values()), list(from_stream.values()))
    # Direct loop over all pixels of all images.
    inter, pred_n, label_n = np.zeros(5), np.zeros(5), np.zeros(5)
    for pred, gt in zip(preds, gts):
        for p, g in zip(pred.ravel(), gt.ravel()):
            if g == 255:
                continue
            pred_n[p] += 1
            label_n[g] += 1
            inter[g] += p == g
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = inter / (pred_n + label_n - inter)
    np.testing.assert_allclose(pre_eval_to_metrics(streamed)['IoU'], iou)


def test_class_subsets_report_synthia_miou16_and_miou13(tmp_path):
    iou = np.arange(19) / 19.0
    subsets = class_subset_metrics(iou, SYNTHIA_CLASS_SUBSETS)
    keep16 = [c for c in range(19) if c not in (9, 14, 16)]
    keep13 = [c for c in keep16 if c not in (3, 4, 5)]
    assert subsets['mIoU16'] == pytest.approx(np.mean(iou[keep16]))
    assert subsets['mIoU13'] == pytest.approx(np.mean(iou[keep13]))
    dataset = _dataset(tmp_path, [GT])
    results = dataset.evaluate([PRED], class_subsets={'mIoU_ab': [0, 1]})
    assert results['mIoU_ab'] == 0.25


def test_eval_metrics_accepts_generators_of_label_files(tmp_path):
    write_label(tmp_path / 'gt.png', GT)
    ret = eval_metrics(iter([PRED]), (p for p in [osp.join(tmp_path, 'gt.png')]), 5)
    np.testing.assert_allclose(ret['IoU'], IOU)
